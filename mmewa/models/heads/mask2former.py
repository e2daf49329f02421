"""Where a Mask2Former head's transformer FFNs live, in forward order (mmseg's head is mmdet's + a
semantic-segmentation interface, so both libraries' twins search the same submodules)."""

# ``forward`` runs the pixel decoder (its MSDeformAttn encoder layers) on the backbone features, then the
# transformer decoder layers on the queries; each layer has one FFN.
MASK2FORMER_FFNS = ('pixel_decoder', 'transformer_decoder')
