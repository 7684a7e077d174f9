use thiserror::Error;

/// A shape that a layer cannot take, found while tracing a model before running it.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ShapeError {
    #[error(
        "layer `{layer}` ({kind}): input {input_h}x{input_w} is too small for a {kernel_h}x{kernel_w} window with padding {pad_h}x{pad_w} (needs at least {need_h}x{need_w})"
    )]
    InputTooSmall {
        layer: String,
        kind: String,
        input_h: usize,
        input_w: usize,
        kernel_h: usize,
        kernel_w: usize,
        pad_h: usize,
        pad_w: usize,
        need_h: usize,
        need_w: usize,
    },
    #[error("layer `{layer}` ({kind}): expects {expected} input channels, got {got}")]
    Channels {
        layer: String,
        kind: String,
        expected: usize,
        got: usize,
    },
    #[error("layer `{layer}` ({kind}): expects {expected} input features, got {got}")]
    Features {
        layer: String,
        kind: String,
        expected: usize,
        got: usize,
    },
    #[error("layer `{layer}`: {message}")]
    Invalid { layer: String, message: String },
}
