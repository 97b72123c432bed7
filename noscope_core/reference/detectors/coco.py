"""COCO class names, spelled one way for every detector so a query means the same thing on each.

SSD's labels.txt and the ONNX default use the COCO API's names ("motorcycle", "couch", "tv"); Darknet's
coco.names uses older VOC-style spellings ("motorbike", "sofa", "tvmonitor"), mapped here onto them.
"""

from __future__ import annotations

#: the 80 classes of COCO detection in the order YOLO-family models number them (0-based)
COCO80_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip

#: COCO's 91 category ids include 11 that were never annotated; detectors trained on COCO never emit them
COCO91_UNANNOTATED: frozenset[str] = frozenset(
    {"street sign", "hat", "shoe", "eye glasses", "plate", "mirror", "window", "desk", "door", "blender", "hair brush"}
)

#: Darknet / VOC spellings -> COCO API spellings
DARKNET_ALIASES: dict[str, str] = {
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
}


def canonical_name(name: str) -> str:
    """The COCO API spelling of a class name (unchanged when it has no alias)."""
    name = name.strip()
    return DARKNET_ALIASES.get(name, name)


def read_names(text: str) -> tuple[str, ...]:
    """Class names from a one-per-line file (CRLF tolerated, blank lines dropped), canonically spelled."""
    return tuple(canonical_name(line) for line in text.splitlines() if line.strip())
