//! The RADIUS wire format (RFC 2865 §3, §5; RFC 2866 §3; RFC 3579 §3.2): a 20-byte header
//! (code, identifier, length, authenticator) and type-length-value attributes, with the MD5
//! authenticators and the HMAC-MD5 `Message-Authenticator`.
//!
//! Parsing borrows the datagram and allocates nothing; a reply is built in one buffer and
//! signed in place. Everything here is a pure function of its input.

use crate::dict::attr;
use crate::limits;
use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};

type HmacMd5 = hmac::Hmac<Md5>;

/// Packet codes (RFC 2865 §3, RFC 2866 §3, RFC 5997).
pub mod code {
    /// Access-Request.
    pub const ACCESS_REQUEST: u8 = 1;
    /// Access-Accept.
    pub const ACCESS_ACCEPT: u8 = 2;
    /// Access-Reject.
    pub const ACCESS_REJECT: u8 = 3;
    /// Accounting-Request.
    pub const ACCOUNTING_REQUEST: u8 = 4;
    /// Accounting-Response.
    pub const ACCOUNTING_RESPONSE: u8 = 5;
    /// Status-Server (RFC 5997).
    pub const STATUS_SERVER: u8 = 12;
}

/// Why a datagram is not a RADIUS packet (each is dropped and counted, never answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the 20-byte header.
    Short,
    /// Longer than `limits::packet_bytes_max`, or a header length over it.
    TooLarge,
    /// The header's length is below 20 or beyond the datagram.
    Length,
    /// An attribute shorter than 2 bytes or running past the packet's end.
    Attribute,
    /// A `Message-Authenticator` that is not 16 bytes, or more than one.
    MessageAuthenticator,
}

/// A parsed packet, borrowing its datagram (octets past the header's length are ignored, as
/// RFC 2865 §3 says).
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// The packet code.
    pub code: u8,
    /// Identifier (matches replies to requests).
    pub id: u8,
    /// The Request (or Response) Authenticator.
    pub authenticator: [u8; 16],
    /// The packet's bytes (header included), cut to the header's length.
    pub raw: &'a [u8],
    /// Offset of the `Message-Authenticator` value in `raw`, when there is one.
    message_authenticator: Option<usize>,
}

impl<'a> Packet<'a> {
    /// Parse a datagram: header, length and every attribute's framing are checked.
    pub fn parse(datagram: &'a [u8]) -> Result<Packet<'a>, Malformed> {
        if datagram.len() > limits::packet_bytes_max {
            return Err(Malformed::TooLarge);
        }
        if datagram.len() < 20 {
            return Err(Malformed::Short);
        }
        let len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        if len > limits::packet_bytes_max {
            return Err(Malformed::TooLarge);
        }
        if len < 20 || len > datagram.len() {
            return Err(Malformed::Length);
        }
        let raw = &datagram[..len];
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&raw[4..20]);
        let mut message_authenticator = None;
        let mut at = 20;
        while at < len {
            if at + 2 > len {
                return Err(Malformed::Attribute);
            }
            let (t, l) = (raw[at], usize::from(raw[at + 1]));
            if l < 2 || at + l > len {
                return Err(Malformed::Attribute);
            }
            if t == attr::MESSAGE_AUTHENTICATOR {
                if l != 18 || message_authenticator.is_some() {
                    return Err(Malformed::MessageAuthenticator);
                }
                message_authenticator = Some(at + 2);
            }
            at += l;
        }
        Ok(Packet {
            code: raw[0],
            id: raw[1],
            authenticator,
            raw,
            message_authenticator,
        })
    }

    /// Every attribute, in order: (type, value).
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            rest: &self.raw[20..],
        }
    }

    /// The first attribute of type `t`.
    pub fn get(&self, t: u8) -> Option<&'a [u8]> {
        self.attributes().find(|(k, _)| *k == t).map(|(_, v)| v)
    }

    /// The first attribute of type `t` as text (invalid UTF-8 is `None`).
    pub fn text(&self, t: u8) -> Option<&'a str> {
        self.get(t).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first attribute of type `t` as a 32-bit integer (`None` unless 4 bytes).
    pub fn int(&self, t: u8) -> Option<u32> {
        let v = self.get(t)?;
        Some(u32::from_be_bytes(v.try_into().ok()?))
    }

    /// The first vendor-specific attribute `vendor`/`vtype` (RFC 2865 §5.26 layout: vendor id,
    /// then one sub-attribute of type, length and value).
    pub fn vsa(&self, vendor: u32, vtype: u8) -> Option<&'a [u8]> {
        self.attributes()
            .filter(|(k, _)| *k == attr::VENDOR_SPECIFIC)
            .find_map(|(_, v)| {
                if v.len() < 6 || u32::from_be_bytes([v[0], v[1], v[2], v[3]]) != vendor {
                    return None;
                }
                let (t, l) = (v[4], usize::from(v[5]));
                (t == vtype && l >= 2 && 4 + l <= v.len()).then(|| &v[6..4 + l])
            })
    }

    /// Does the packet carry a `Message-Authenticator`?
    pub fn has_message_authenticator(&self) -> bool {
        self.message_authenticator.is_some()
    }

    /// Check the `Message-Authenticator` of a request (RFC 3579 §3.2): HMAC-MD5 keyed by the
    /// secret over the packet with the attribute's value as 16 zero bytes. `false` when the
    /// packet has none.
    pub fn message_authenticator_valid(&self, secret: &[u8]) -> bool {
        let Some(at) = self.message_authenticator else {
            return false;
        };
        let Ok(mut mac) = HmacMd5::new_from_slice(secret) else {
            return false;
        };
        mac.update(&self.raw[..at]);
        mac.update(&[0u8; 16]);
        mac.update(&self.raw[at + 16..]);
        mac.verify_slice(&self.raw[at..at + 16]).is_ok()
    }

    /// Check an Accounting-Request's authenticator (RFC 2866 §3): MD5 over code, identifier,
    /// length, 16 zero bytes, the attributes and the secret.
    pub fn accounting_authenticator_valid(&self, secret: &[u8]) -> bool {
        let mut h = Md5::new();
        h.update(&self.raw[..4]);
        h.update([0u8; 16]);
        h.update(&self.raw[20..]);
        h.update(secret);
        let d = h.finalize();
        constant_time_eq(d.as_slice(), &self.authenticator)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The attributes of a parsed packet (framing already checked by [`Packet::parse`]).
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (u8, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < 2 {
            return None;
        }
        let (t, l) = (self.rest[0], usize::from(self.rest[1]));
        if l < 2 || l > self.rest.len() {
            return None;
        }
        let v = &self.rest[2..l];
        self.rest = &self.rest[l..];
        Some((t, v))
    }
}

/// A packet being built: attributes are appended, then [`Builder::finish_response`] or
/// [`Builder::finish_request`] fills in the length and the authenticators.
#[derive(Debug, Clone)]
pub struct Builder {
    buf: Vec<u8>,
    message_authenticator: Option<usize>,
}

impl Builder {
    /// A packet of `code` answering (or being) identifier `id`.
    pub fn new(code: u8, id: u8) -> Builder {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&[code, id, 0, 0]);
        buf.extend_from_slice(&[0u8; 16]);
        Builder {
            buf,
            message_authenticator: None,
        }
    }

    /// Append an attribute; values longer than 253 bytes are cut there (the most one
    /// attribute can carry).
    pub fn attr(&mut self, t: u8, value: &[u8]) -> &mut Builder {
        let v = &value[..value.len().min(253)];
        self.buf.push(t);
        self.buf.push((v.len() + 2) as u8);
        self.buf.extend_from_slice(v);
        self
    }

    /// Append a 32-bit integer attribute.
    pub fn int(&mut self, t: u8, value: u32) -> &mut Builder {
        self.attr(t, &value.to_be_bytes())
    }

    /// Append a vendor-specific attribute holding one sub-attribute (values cut to 247 bytes).
    pub fn vsa(&mut self, vendor: u32, vtype: u8, value: &[u8]) -> &mut Builder {
        let v = &value[..value.len().min(247)];
        let mut inner = Vec::with_capacity(6 + v.len());
        inner.extend_from_slice(&vendor.to_be_bytes());
        inner.push(vtype);
        inner.push((v.len() + 2) as u8);
        inner.extend_from_slice(v);
        self.attr(attr::VENDOR_SPECIFIC, &inner)
    }

    /// Append a `Message-Authenticator` (filled in when the packet is finished). Put it first:
    /// the BLAST-RADIUS guidance has clients check it before anything else.
    pub fn message_authenticator(&mut self) -> &mut Builder {
        self.message_authenticator = Some(self.buf.len() + 2);
        self.attr(attr::MESSAGE_AUTHENTICATOR, &[0u8; 16])
    }

    fn set_length(&mut self) {
        let len = self.buf.len() as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
    }

    fn sign_message_authenticator(&mut self, secret: &[u8]) {
        if let Some(at) = self.message_authenticator {
            if let Ok(mut mac) = HmacMd5::new_from_slice(secret) {
                mac.update(&self.buf);
                let tag = mac.finalize().into_bytes();
                self.buf[at..at + 16].copy_from_slice(&tag);
            }
        }
    }

    /// The reply to a request whose authenticator was `request_authenticator`: the
    /// `Message-Authenticator` over the packet holding the request's authenticator, then the
    /// Response Authenticator (RFC 2865 §3) over everything.
    pub fn finish_response(mut self, request_authenticator: &[u8; 16], secret: &[u8]) -> Vec<u8> {
        self.set_length();
        self.buf[4..20].copy_from_slice(request_authenticator);
        self.sign_message_authenticator(secret);
        let mut h = Md5::new();
        h.update(&self.buf);
        h.update(secret);
        let d = h.finalize();
        self.buf[4..20].copy_from_slice(d.as_slice());
        self.buf
    }

    /// An Access-Request with `authenticator` (random, chosen by the caller), its
    /// `Message-Authenticator` signed (for tests and the bench: the client side).
    pub fn finish_access_request(mut self, authenticator: &[u8; 16], secret: &[u8]) -> Vec<u8> {
        self.set_length();
        self.buf[4..20].copy_from_slice(authenticator);
        self.sign_message_authenticator(secret);
        self.buf
    }

    /// An Accounting-Request with its authenticator (RFC 2866 §3).
    pub fn finish_accounting_request(mut self, secret: &[u8]) -> Vec<u8> {
        self.set_length();
        let mut h = Md5::new();
        h.update(&self.buf);
        h.update(secret);
        let d = h.finalize();
        self.buf[4..20].copy_from_slice(d.as_slice());
        self.buf
    }
}

/// Does `reply` answer `request_authenticator` under `secret` (the client's check of the
/// Response Authenticator, and of the `Message-Authenticator` when present)?
pub fn response_valid(reply: &[u8], request_authenticator: &[u8; 16], secret: &[u8]) -> bool {
    let Ok(p) = Packet::parse(reply) else {
        return false;
    };
    let mut h = Md5::new();
    h.update(&p.raw[..4]);
    h.update(request_authenticator);
    h.update(&p.raw[20..]);
    h.update(secret);
    if !constant_time_eq(h.finalize().as_slice(), &p.authenticator) {
        return false;
    }
    match p.message_authenticator {
        None => true,
        Some(at) => {
            let Ok(mut mac) = HmacMd5::new_from_slice(secret) else {
                return false;
            };
            mac.update(&p.raw[..4]);
            mac.update(request_authenticator);
            mac.update(&p.raw[20..at]);
            mac.update(&[0u8; 16]);
            mac.update(&p.raw[at + 16..]);
            mac.verify_slice(&p.raw[at..at + 16]).is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"xyzzy5461";

    #[test]
    fn the_rfc_2865_example_request_and_its_response_authenticator() {
        // RFC 2865 §7.1: nemo's Access-Request (id 0, from 192.168.1.16 port 3).
        let request: [u8; 56] = [
            0x01, 0x00, 0x00, 0x38, 0x0f, 0x40, 0x3f, 0x94, 0x73, 0x97, 0x80, 0x57, 0xbd, 0x83,
            0xd5, 0xcb, 0x98, 0xf4, 0x22, 0x7a, 0x01, 0x06, 0x6e, 0x65, 0x6d, 0x6f, 0x02, 0x12,
            0x0d, 0xbe, 0x70, 0x8d, 0x93, 0xd4, 0x13, 0xce, 0x31, 0x96, 0xe4, 0x3f, 0x78, 0x2a,
            0x0a, 0xee, 0x04, 0x06, 0xc0, 0xa8, 0x01, 0x10, 0x05, 0x06, 0x00, 0x00, 0x00, 0x03,
        ];
        let p = Packet::parse(&request).unwrap();
        assert_eq!((p.code, p.id), (code::ACCESS_REQUEST, 0));
        assert_eq!(p.text(attr::USER_NAME), Some("nemo"));
        assert_eq!(p.get(attr::NAS_IP_ADDRESS), Some(&[192, 168, 1, 16][..]));
        assert_eq!(p.int(attr::NAS_PORT), Some(3));
        assert!(!p.has_message_authenticator());
        // The Access-Accept: MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
        let mut b = Builder::new(code::ACCESS_ACCEPT, 0);
        b.int(attr::SERVICE_TYPE, 1)
            .int(attr::LOGIN_SERVICE, 0)
            .attr(attr::LOGIN_IP_HOST, &[192, 168, 1, 3]);
        let reply = b.finish_response(&p.authenticator, SECRET);
        assert_eq!(reply.len(), 38);
        let mut by_hand = reply.clone();
        by_hand[4..20].copy_from_slice(&p.authenticator);
        by_hand.extend_from_slice(SECRET);
        assert_eq!(&reply[4..20], Md5::digest(&by_hand).as_slice());
        assert!(response_valid(&reply, &p.authenticator, SECRET));
        assert!(!response_valid(&reply, &p.authenticator, b"other"));
    }

    #[test]
    fn message_authenticator_round_trip_and_tampering() {
        let mut b = Builder::new(code::ACCESS_REQUEST, 7);
        b.message_authenticator()
            .attr(attr::USER_NAME, b"alice")
            .attr(attr::CALLED_STATION_ID, b"4420");
        let req = b.finish_access_request(&[9u8; 16], SECRET);
        let p = Packet::parse(&req).unwrap();
        assert!(p.message_authenticator_valid(SECRET));
        assert!(!p.message_authenticator_valid(b"wrong"));
        assert_eq!(p.text(attr::USER_NAME), Some("alice"));
        let mut tampered = req.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(!Packet::parse(&tampered)
            .unwrap()
            .message_authenticator_valid(SECRET));
    }

    #[test]
    fn accounting_authenticator() {
        let mut b = Builder::new(code::ACCOUNTING_REQUEST, 1);
        b.int(attr::ACCT_STATUS_TYPE, 2)
            .attr(attr::ACCT_SESSION_ID, b"abc");
        let req = b.finish_accounting_request(SECRET);
        let p = Packet::parse(&req).unwrap();
        assert!(p.accounting_authenticator_valid(SECRET));
        assert!(!p.accounting_authenticator_valid(b"nope"));
        assert_eq!(p.int(attr::ACCT_STATUS_TYPE), Some(2));
    }

    #[test]
    fn framing_errors() {
        assert_eq!(Packet::parse(&[1; 10]).unwrap_err(), Malformed::Short);
        assert_eq!(
            Packet::parse(&vec![1u8; 5000]).unwrap_err(),
            Malformed::TooLarge
        );
        let mut p = vec![1u8, 1, 0, 19];
        p.extend_from_slice(&[0; 16]);
        assert_eq!(Packet::parse(&p).unwrap_err(), Malformed::Length);
        p[3] = 30; // beyond the datagram
        assert_eq!(Packet::parse(&p).unwrap_err(), Malformed::Length);
        // An attribute of length 1, and one running past the end.
        let mut p = vec![1u8, 1, 0, 22];
        p.extend_from_slice(&[0; 16]);
        p.extend_from_slice(&[1, 1]);
        assert_eq!(Packet::parse(&p).unwrap_err(), Malformed::Attribute);
        p[21] = 5;
        assert_eq!(Packet::parse(&p).unwrap_err(), Malformed::Attribute);
        // A short Message-Authenticator.
        let mut p = vec![1u8, 1, 0, 24];
        p.extend_from_slice(&[0; 16]);
        p.extend_from_slice(&[80, 4, 0, 0]);
        assert_eq!(
            Packet::parse(&p).unwrap_err(),
            Malformed::MessageAuthenticator
        );
        // Padding past the header's length is ignored.
        let mut p = vec![1u8, 1, 0, 20];
        p.extend_from_slice(&[0; 16]);
        p.extend_from_slice(&[0xff; 7]);
        assert_eq!(Packet::parse(&p).unwrap().raw.len(), 20);
    }

    #[test]
    fn vendor_specific_attributes() {
        let mut b = Builder::new(code::ACCESS_ACCEPT, 1);
        b.vsa(9, 102, b"h323-credit-time=60");
        let reply = b.finish_response(&[0; 16], SECRET);
        let p = Packet::parse(&reply).unwrap();
        assert_eq!(p.vsa(9, 102), Some(&b"h323-credit-time=60"[..]));
        assert_eq!(p.vsa(9, 103), None);
        assert_eq!(p.vsa(10, 102), None);
    }
}
