"""Building blocks shared by several sepplug components (as ``espnet2/enh/layers``)."""
