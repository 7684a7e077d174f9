use std::path::PathBuf;

use thiserror::Error;

/// Everything that can be wrong with data on disk, each naming the file and what was expected.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: missing. {hint}")]
    Missing { path: PathBuf, hint: String },
    #[error("{path}: truncated: expected {expected} bytes, found {found}")]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{path}: oversized: expected {expected} bytes, found {found}")]
    Oversized {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{path}: wrong magic number: expected {expected:#010x}, found {found:#010x}")]
    Magic {
        path: PathBuf,
        expected: u32,
        found: u32,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{images} has {n_images} images but {labels} has {n_labels} labels")]
    CountMismatch {
        images: PathBuf,
        labels: PathBuf,
        n_images: usize,
        n_labels: usize,
    },
    #[error("{path}: label {label} of record {index} is out of range (expected 0..{classes})")]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u32,
        classes: usize,
    },
    #[error("{path}: corrupt gzip stream: {source}")]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: checksum mismatch: expected {algorithm} {expected}, found {found}")]
    Checksum {
        path: PathBuf,
        algorithm: &'static str,
        expected: String,
        found: String,
    },
    #[error("{path}: cannot decode image: {message}")]
    Image { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Folder { path: PathBuf, message: String },
    #[error("download of {url} failed: {message}. {hint}")]
    Download {
        url: String,
        message: String,
        hint: String,
    },
    #[error("unknown dataset `{name}`; known: {known}")]
    UnknownDataset { name: String, known: String },
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
}

impl DataError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;
