//! TensorBoard event files: a run's scalars in `events.out.tfevents.0.convlab` in its run
//! directory, so `tensorboard --logdir runs` shows every run under its directory's name.
//!
//! Per epoch (step = epoch): `loss/train`, `loss/valid`, `top1/train`, `top1/valid`,
//! `top5/train`, `top5/valid`, `lr`, `images_per_s`. Per diagnostics measurement (step =
//! optimizer step): `update_ratio/<param>`, `grad_norm/<param>` and `dead_units/<layer>`.
//!
//! The file is rewritten whole (atomically) from `metrics.csv` and the diagnostics CSVs after
//! every epoch, so a resumed run's file holds exactly the epochs its metrics hold.
//!
//! Format: TFRecord framing (little-endian u64 length, masked CRC-32C of the length, the bytes,
//! masked CRC-32C of the bytes) around `tensorflow.Event` protobuf messages, encoded with
//! prost from the three messages below (field numbers from TensorFlow's `event.proto` and
//! `summary.proto`). No crate for TensorBoard files is kept up to date (`tensorboard-rs` was last
//! released in 2022, on protobuf 2 and image 0.23), and the format needs only these lines.

use std::path::Path;

use anyhow::Result;
use prost::Message;

use crate::record::diagnostics;
use crate::record::rundir::{EpochRow, write_atomic};

pub const FILE: &str = "events.out.tfevents.0.convlab";

#[derive(Clone, PartialEq, Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(string, optional, tag = "3")]
    file_version: Option<String>,
    #[prost(message, optional, tag = "5")]
    summary: Option<Summary>,
}

#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<Value>,
}

#[derive(Clone, PartialEq, Message)]
struct Value {
    #[prost(string, tag = "1")]
    tag: String,
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
}

fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = crc32c::crc32c(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Appends one TFRecord holding `event` to `out`.
fn record(out: &mut Vec<u8>, event: &Event) {
    let data = event.encode_to_vec();
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(&data);
    out.extend_from_slice(&masked_crc(&data).to_le_bytes());
}

/// Builds the event file's bytes from scalars `(step, [(tag, value)])`.
struct Events {
    bytes: Vec<u8>,
    wall_time: f64,
}

impl Events {
    fn new() -> Self {
        let wall_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut e = Self {
            bytes: vec![],
            wall_time,
        };
        record(
            &mut e.bytes,
            &Event {
                wall_time,
                step: 0,
                file_version: Some("brain.Event:2".into()),
                summary: None,
            },
        );
        e
    }

    fn scalars(&mut self, step: usize, values: Vec<(String, f64)>) {
        let value: Vec<Value> = values
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(tag, v)| Value {
                tag,
                simple_value: Some(v as f32),
            })
            .collect();
        if value.is_empty() {
            return;
        }
        record(
            &mut self.bytes,
            &Event {
                wall_time: self.wall_time,
                step: step as i64,
                file_version: None,
                summary: Some(Summary { value }),
            },
        );
    }
}

/// Rewrites the run directory's event file from its epoch rows and its diagnostics.
pub fn write_run(dir: &Path, rows: &[EpochRow]) -> Result<()> {
    let mut e = Events::new();
    for r in rows {
        e.scalars(
            r.epoch,
            vec![
                ("loss/train".into(), r.train_loss),
                ("loss/valid".into(), r.valid_loss),
                ("top1/train".into(), r.train_acc),
                ("top1/valid".into(), r.valid_acc),
                ("top5/train".into(), r.train_top5),
                ("top5/valid".into(), r.valid_top5),
                ("lr".into(), r.lr),
                ("images_per_s".into(), r.images_per_s),
            ],
        );
    }
    let (params, dead) = diagnostics::read(dir)?;
    let mut steps: Vec<usize> = params.iter().map(|r| r.step).collect();
    steps.extend(dead.iter().map(|r| r.step));
    steps.sort_unstable();
    steps.dedup();
    for step in steps {
        let mut values = vec![];
        for r in params.iter().filter(|r| r.step == step) {
            values.push((format!("update_ratio/{}", r.param), r.ratio));
            values.push((format!("grad_norm/{}", r.param), r.grad_norm));
        }
        for r in dead.iter().filter(|r| r.step == step) {
            values.push((format!("dead_units/{}", r.layer), r.dead_fraction));
        }
        e.scalars(step, values);
    }
    Ok(write_atomic(&dir.join(FILE), &e.bytes)?)
}
