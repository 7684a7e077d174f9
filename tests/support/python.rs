//! The Python with the PyPI packages the tests read results with (`tensorboard`, `onnx`,
//! `onnxruntime`): `$CONVLAB_PYTHON`, else the venv `scripts/test.sh` makes. Shared by the test
//! binaries through `#[path]`.

use std::path::PathBuf;

pub fn pypi_python() -> PathBuf {
    let path = std::env::var_os("CONVLAB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/convlab/pyenv/bin/python")
        });
    assert!(
        path.exists(),
        "{}: no Python with the PyPI test packages (scripts/test.sh makes it: python3 -m venv \
         ~/.cache/convlab/pyenv && ~/.cache/convlab/pyenv/bin/pip install tensorboard onnx \
         onnxruntime)",
        path.display()
    );
    path
}
