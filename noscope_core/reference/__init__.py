"""The reference detector: detections, the detectors behind one interface, the detection cache, labels, label sets."""
