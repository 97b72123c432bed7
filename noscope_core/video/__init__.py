"""Reading video: probing, readers (OpenCV, PyAV), views and shrinking, the frame store, the writer, reading costs."""
