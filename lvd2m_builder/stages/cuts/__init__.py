"""Cut detectors, one file each (paper ContentDetector, robust, TransNetV2), behind one selection."""
