//! Workloads: each client process has a fixed list of requests by byte offset and length.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Op {
    /// Write the volume (through copy-on-write).
    Write,
    /// Read the volume: must see the newest acknowledged or held write.
    Read,
    /// Read the point-in-time image: must see begin-time data.
    ReadImage,
    /// FLUSH the volume: every write acknowledged before it is durable once it completes.
    Flush,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Request {
    pub op: Op,
    pub offset: u64,
    pub len: u64,
    /// A write with forced unit access (durable when acknowledged).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fua: bool,
}

impl Request {
    pub fn write(offset: u64, len: u64) -> Self {
        Request {
            op: Op::Write,
            offset,
            len,
            fua: false,
        }
    }
    /// A write with forced unit access.
    pub fn write_fua(offset: u64, len: u64) -> Self {
        Request {
            fua: true,
            ..Request::write(offset, len)
        }
    }
    /// A FLUSH of the volume.
    pub fn flush() -> Self {
        Request {
            op: Op::Flush,
            offset: 0,
            len: 0,
            fua: false,
        }
    }
    pub fn read(offset: u64, len: u64) -> Self {
        Request {
            op: Op::Read,
            offset,
            len,
            fua: false,
        }
    }
    pub fn read_image(offset: u64, len: u64) -> Self {
        Request {
            op: Op::ReadImage,
            offset,
            len,
            fua: false,
        }
    }
}

/// What a client is called in traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Writer,
    Reader,
    ImageReader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Writer => "writer",
            Role::Reader => "reader",
            Role::ImageReader => "image reader",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientLoad {
    pub role: Role,
    pub requests: Vec<Request>,
}

/// Every client's requests. A client issues its requests one after another; clients run
/// concurrently with each other and with the copier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Workload {
    pub clients: Vec<ClientLoad>,
}

impl Workload {
    pub fn client(mut self, role: Role, requests: Vec<Request>) -> Self {
        self.clients.push(ClientLoad { role, requests });
        self
    }
}
