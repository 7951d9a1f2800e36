"""tests/executed.py: nbval's runs kept as executed notebooks for the test book."""
from types import SimpleNamespace

import executed
import nbformat


def _item(nb, index, outputs):
    parent = SimpleNamespace(nb=nb, fspath="/x/00_toy.ipynb")
    return SimpleNamespace(parent=parent, cell_num=index, test_outputs=outputs)


def test_outputs_are_kept_in_order_with_the_slider_first_and_silenced_results_dropped(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# toy"), nbformat.v4.new_code_cell("x = 1\nx"),
                nbformat.v4.new_code_cell("widgets.interact(f, a=1);")]
    plugin = executed.ExecutedNotebooks(tmp_path / "cache")
    image = {"output_type": "display_data", "data": {"image/png": "iVBOR"}, "metadata": {}}
    view = {"output_type": "display_data", "data": {executed.WIDGET_VIEW: {"model_id": "m"}}, "metadata": {}}
    result = {"output_type": "execute_result", "data": {"text/plain": "<function f>"}, "metadata": {},
              "execution_count": 9}
    plugin.record(_item(nb, 0, [dict(result, data={"text/plain": "1"})]), passed=True)
    plugin.record(_item(nb, 1, [image, view, result]), passed=True)
    run = plugin.runs["/x/00_toy.ipynb"]
    first, second = run["nb"].cells[1], run["nb"].cells[2]
    assert first.execution_count == 1 and first.outputs[0]["data"]["text/plain"] == "1"
    assert first.outputs[0]["execution_count"] == 1
    assert [o["data"].keys() for o in second.outputs] == [view["data"].keys(), image["data"].keys()]
    assert not run["failed"]
    assert nb.cells[1].outputs == []  # nbval's own notebook is not changed
