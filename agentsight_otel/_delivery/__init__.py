"""Delivery infrastructure shared by the exporter, the attachment uploader and the tracker."""
