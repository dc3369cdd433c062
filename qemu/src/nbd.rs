//! A small NBD client over a Unix socket: the fixed newstyle handshake with `NBD_OPT_GO`,
//! then pipelined `READ`, `WRITE` and `DISC` commands with simple replies, as the NBD
//! protocol (its `proto.md`) describes them.
//!
//! A connection splits into a [`Sender`] and a [`Receiver`] so that many requests can be in
//! flight at once: the sender writes requests as they come due, and a thread of the
//! caller's reads the replies as they arrive. A request's cookie says all the receiver
//! needs to know about it ([`Cookie`]), so the two halves share no state.

use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
const REQUEST_MAGIC: u32 = 0x2560_9513;
const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;

const FLAG_FIXED_NEWSTYLE: u16 = 1;
const FLAG_NO_ZEROES: u16 = 2;
const OPT_GO: u32 = 7;
const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
const REP_ERROR: u32 = 1 << 31;
const INFO_EXPORT: u16 = 0;
const TRANSMISSION_READ_ONLY: u16 = 1 << 1;

const CMD_READ: u16 = 0;
const CMD_WRITE: u16 = 1;
const CMD_DISC: u16 = 2;

/// The largest read a cookie can describe (QEMU's own limit is 32 MiB).
pub const MAX_READ: u64 = 1 << 30;

/// Why the NBD conversation failed.
#[derive(Debug, thiserror::Error)]
pub enum NbdError {
    #[error("NBD socket {path}: {source}")]
    Connect { path: String, source: io::Error },
    #[error("NBD connection: {0}")]
    Io(#[from] io::Error),
    #[error("NBD server: {0}")]
    Protocol(String),
    #[error("NBD server refused export '{name}': {reason}")]
    Refused { name: String, reason: String },
}

/// What the server says of the export it serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportInfo {
    pub size: u64,
    pub read_only: bool,
}

/// A request's cookie: its id, and for a read how many bytes its reply carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie(u64);

impl Cookie {
    const READ: u64 = 1 << 63;

    pub fn write(id: u32) -> Cookie {
        Cookie(u64::from(id))
    }

    /// A read of `len` bytes (at most [`MAX_READ`]).
    pub fn read(id: u32, len: u64) -> Cookie {
        assert!(
            len <= MAX_READ,
            "a read of {len} bytes does not fit a cookie"
        );
        Cookie(Self::READ | (len << 32) | u64::from(id))
    }

    pub fn id(self) -> u32 {
        self.0 as u32
    }

    /// The bytes a successful reply carries.
    fn payload(self) -> u64 {
        match self.0 & Self::READ {
            0 => 0,
            _ => (self.0 >> 32) & (MAX_READ * 2 - 1),
        }
    }
}

/// One reply: the request it answers, the server's error number (0 for success) and, for a
/// successful read, the data.
#[derive(Debug)]
pub struct Reply {
    pub cookie: Cookie,
    pub error: u32,
    pub data: Vec<u8>,
}

/// An NBD connection in the transmission phase.
pub struct Connection {
    stream: UnixStream,
    pub info: ExportInfo,
}

impl Connection {
    /// Connects to the server at `socket` and opens the export `name`.
    pub fn open(socket: &Path, name: &str) -> Result<Connection, NbdError> {
        let stream = UnixStream::connect(socket).map_err(|source| NbdError::Connect {
            path: socket.display().to_string(),
            source,
        })?;
        // The handshake is short; a server that stalls in it is broken.
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut s = stream;
        let info = handshake(&mut s, name)?;
        s.set_read_timeout(None)?;
        Ok(Connection { stream: s, info })
    }

    /// The two halves: requests go out on one, replies come back on the other.
    pub fn split(self) -> io::Result<(Sender, Receiver)> {
        let reader = self.stream.try_clone()?;
        Ok((
            Sender {
                stream: self.stream,
            },
            Receiver {
                stream: BufReader::with_capacity(256 << 10, reader),
            },
        ))
    }
}

/// The half of a connection that sends requests.
pub struct Sender {
    stream: UnixStream,
}

impl Sender {
    pub fn read(&mut self, cookie: Cookie, offset: u64) -> Result<(), NbdError> {
        send(
            &mut self.stream,
            CMD_READ,
            cookie,
            offset,
            cookie.payload(),
            &[],
        )
    }

    pub fn write(&mut self, cookie: Cookie, offset: u64, data: &[u8]) -> Result<(), NbdError> {
        send(
            &mut self.stream,
            CMD_WRITE,
            cookie,
            offset,
            data.len() as u64,
            data,
        )
    }

    /// Tells the server this client is done (it answers nothing) and closes the socket,
    /// which ends the receiver's loop.
    pub fn close(&mut self) {
        let _ = send(&mut self.stream, CMD_DISC, Cookie(0), 0, 0, &[]);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// The half of a connection that reads replies.
pub struct Receiver {
    stream: BufReader<UnixStream>,
}

impl Receiver {
    /// The next reply, `None` once the server has closed the connection between replies.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, NbdError> {
        let mut first = [0u8; 1];
        match self.stream.read(&mut first)? {
            0 => Ok(None),
            _ => receive(&mut (&first[..]).chain(&mut self.stream)).map(Some),
        }
    }
}

fn handshake(s: &mut UnixStream, name: &str) -> Result<ExportInfo, NbdError> {
    if read_u64(s)? != NBDMAGIC || read_u64(s)? != IHAVEOPT {
        return Err(NbdError::Protocol(
            "not a newstyle NBD server (bad magic)".into(),
        ));
    }
    let flags = read_u16(s)?;
    if flags & FLAG_FIXED_NEWSTYLE == 0 {
        return Err(NbdError::Protocol(
            "the server does not speak fixed newstyle".into(),
        ));
    }
    let ours = u32::from(FLAG_FIXED_NEWSTYLE | (flags & FLAG_NO_ZEROES));
    s.write_all(&ours.to_be_bytes())?;
    // NBD_OPT_GO: the name, and no information requests (the export's size comes anyway).
    let mut data = Vec::with_capacity(6 + name.len());
    data.extend_from_slice(&(name.len() as u32).to_be_bytes());
    data.extend_from_slice(name.as_bytes());
    data.extend_from_slice(&0u16.to_be_bytes());
    let mut req = Vec::with_capacity(16 + data.len());
    req.extend_from_slice(&IHAVEOPT.to_be_bytes());
    req.extend_from_slice(&OPT_GO.to_be_bytes());
    req.extend_from_slice(&(data.len() as u32).to_be_bytes());
    req.extend_from_slice(&data);
    s.write_all(&req)?;
    let mut info = None;
    loop {
        if read_u64(s)? != REPLY_MAGIC {
            return Err(NbdError::Protocol("bad option reply magic".into()));
        }
        let option = read_u32(s)?;
        let kind = read_u32(s)?;
        let len = read_u32(s)?;
        let mut body = vec![0u8; len as usize];
        s.read_exact(&mut body)?;
        if option != OPT_GO {
            return Err(NbdError::Protocol(format!(
                "a reply to option {option}, expected NBD_OPT_GO"
            )));
        }
        match kind {
            REP_ACK => break,
            REP_INFO
                if body.len() >= 12 && u16::from_be_bytes([body[0], body[1]]) == INFO_EXPORT =>
            {
                let size = u64::from_be_bytes(body[2..10].try_into().expect("8 bytes"));
                let tflags = u16::from_be_bytes([body[10], body[11]]);
                info = Some(ExportInfo {
                    size,
                    read_only: tflags & TRANSMISSION_READ_ONLY != 0,
                });
            }
            REP_INFO => {} // information we did not ask about
            k if k & REP_ERROR != 0 => {
                return Err(NbdError::Refused {
                    name: name.to_string(),
                    reason: String::from_utf8_lossy(&body).into_owned(),
                })
            }
            k => {
                return Err(NbdError::Protocol(format!(
                    "unexpected option reply type {k}"
                )))
            }
        }
    }
    info.ok_or_else(|| NbdError::Protocol("NBD_OPT_GO succeeded without NBD_INFO_EXPORT".into()))
}

fn send(
    s: &mut UnixStream,
    command: u16,
    cookie: Cookie,
    offset: u64,
    len: u64,
    data: &[u8],
) -> Result<(), NbdError> {
    let len = u32::try_from(len)
        .map_err(|_| NbdError::Protocol(format!("a request of {len} bytes is too long")))?;
    let mut header = [0u8; 28];
    header[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
    header[4..6].copy_from_slice(&0u16.to_be_bytes());
    header[6..8].copy_from_slice(&command.to_be_bytes());
    header[8..16].copy_from_slice(&cookie.0.to_be_bytes());
    header[16..24].copy_from_slice(&offset.to_be_bytes());
    header[24..28].copy_from_slice(&len.to_be_bytes());
    // One write for header and data: a request is never split by another thread's.
    match data.is_empty() {
        true => s.write_all(&header)?,
        false => {
            let mut whole = Vec::with_capacity(28 + data.len());
            whole.extend_from_slice(&header);
            whole.extend_from_slice(data);
            s.write_all(&whole)?
        }
    }
    Ok(())
}

fn receive(s: &mut impl Read) -> Result<Reply, NbdError> {
    let mut header = [0u8; 16];
    s.read_exact(&mut header)?;
    let magic = u32::from_be_bytes(header[0..4].try_into().expect("4 bytes"));
    if magic != SIMPLE_REPLY_MAGIC {
        return Err(NbdError::Protocol(format!(
            "reply magic {magic:#x} is not a simple reply"
        )));
    }
    let error = u32::from_be_bytes(header[4..8].try_into().expect("4 bytes"));
    let cookie = Cookie(u64::from_be_bytes(
        header[8..16].try_into().expect("8 bytes"),
    ));
    let mut data = Vec::new();
    if error == 0 && cookie.payload() > 0 {
        data = vec![0u8; cookie.payload() as usize];
        s.read_exact(&mut data)?;
    }
    Ok(Reply {
        cookie,
        error,
        data,
    })
}

fn read_u64(s: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    s.read_exact(&mut b)?;
    Ok(u64::from_be_bytes(b))
}

fn read_u32(s: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    s.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_u16(s: &mut impl Read) -> io::Result<u16> {
    let mut b = [0u8; 2];
    s.read_exact(&mut b)?;
    Ok(u16::from_be_bytes(b))
}

/// The name of an NBD error number, as the protocol defines them.
pub fn error_name(errno: u32) -> &'static str {
    match errno {
        1 => "EPERM",
        5 => "EIO",
        12 => "ENOMEM",
        22 => "EINVAL",
        28 => "ENOSPC",
        75 => "EOVERFLOW",
        95 => "ENOTSUP",
        108 => "ESHUTDOWN",
        _ => "an unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_carries_its_id_and_its_reads_length() {
        let c = Cookie::read(77, 128 << 10);
        assert_eq!((c.id(), c.payload()), (77, 128 << 10));
        let w = Cookie::write(u32::MAX);
        assert_eq!((w.id(), w.payload()), (u32::MAX, 0));
        assert_eq!(Cookie::read(1, MAX_READ).payload(), MAX_READ);
    }
}
