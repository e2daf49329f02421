"""tools/visualization/visualize_det.py: a selection that finds no image is a clear error, before any model is
built."""
import pytest
from tool_utils import load_tool

visualize_det = load_tool('visualize_det')


def test_no_image_with_enough_objects_names_the_fix(coco128_root, tmp_path):
    out = tmp_path / 'det.jpg'
    with pytest.raises(SystemExit, match='lower --min-objects'):
        visualize_det.main(['--ann-file', f'{coco128_root}/annotations/instances_val.json', '--img-dir',
                            f'{coco128_root}/images', '--min-objects', '10000', '--model', 'm', 'cfg.py',
                            'ckpt.pth', '--out', str(out)])
    assert not out.exists()
