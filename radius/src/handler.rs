//! What each request means to the engine: Access-Request → authorize, Start → track the
//! call, Interim-Update → update, Stop → settle.

use crate::clients::{Clients, Nas};
use crate::codec::{code, Builder, Packet};
use crate::dict::{self, attr, cisco, status};
use crate::server::Stats;
use crate::RadiusConfig;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tollgate::error::ErrorKind;
use tollgate::{AuthorizeRequest, Engine, SettleRequest};

/// What a request gets.
pub(crate) enum Outcome {
    /// This datagram.
    Reply(Vec<u8>),
    /// Nothing: the NAS will retry (the engine could not make the record durable).
    NoReply,
}

/// A call between its grant and its Stop.
#[derive(Clone, Debug)]
struct Session {
    reservation: u64,
    /// The NAS's position in the client list (only it may settle the call by this entry).
    nas: u32,
    account: String,
    auth_type: Option<&'static str>,
    destination: String,
    source: Option<String>,
    /// What the Access-Accept said (a repeated Access-Request gets the same).
    seconds: u64,
    /// Forgotten after this.
    until: DateTime<Utc>,
}

pub(crate) struct Handler {
    engine: Engine,
    clients: Clients,
    sessions: Mutex<HashMap<String, Session>>,
    sessions_max: usize,
    /// Keys the Class tags of this run (reservations do not outlive a run either).
    stats: Arc<Stats>,
    log: crate::LogFn,
}

type HmacMd5 = hmac::Hmac<md5::Md5>;

pub(crate) fn is_stop(p: &Packet<'_>) -> bool {
    p.int(attr::ACCT_STATUS_TYPE) == Some(status::STOP)
}

/// A number as the engine wants it: a SIP or tel URI's user part, without parameters.
fn number(s: &str) -> &str {
    let s = s.trim();
    let s = ["sip:", "sips:", "tel:"]
        .iter()
        .find_map(|p| s.strip_prefix(p))
        .unwrap_or(s);
    let end = s.find(['@', ';']).unwrap_or(s.len());
    &s[..end]
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The identities a request may be charged to, in order: User-Name (every kind of
/// identifier), then Calling-Station-Id as an ANI.
fn identities<'a>(p: &Packet<'a>) -> Vec<(String, Option<&'static str>)> {
    let user = nonempty(p.text(attr::USER_NAME));
    let ani = nonempty(p.text(attr::CALLING_STATION_ID)).map(number);
    let mut out = Vec::with_capacity(2);
    if let Some(u) = user {
        out.push((u.to_string(), None));
    }
    if let Some(a) = ani.filter(|a| !a.is_empty() && Some(*a) != user) {
        out.push((a.to_string(), Some("ani")));
    }
    out
}

fn vsa_text(b: &mut Builder, vtype: u8, name: &str, value: impl std::fmt::Display) {
    b.vsa(cisco::VENDOR, vtype, format!("{name}={value}").as_bytes());
}

impl Handler {
    pub(crate) fn new(engine: Engine, config: &RadiusConfig, stats: Arc<Stats>) -> Handler {
        Handler {
            engine,
            clients: config.clients.clone(),
            sessions: Mutex::new(HashMap::new()),
            sessions_max: config.sessions_max,
            stats,
            log: config.log.clone(),
        }
    }

    pub(crate) fn nas(&self, ip: std::net::IpAddr) -> Option<Nas> {
        self.clients.find(ip).cloned()
    }

    fn now(&self) -> DateTime<Utc> {
        self.engine.clock().now()
    }

    /// The Class of a reservation granted to `nas`: `tollgate:<reservation>:<tag>`, the tag
    /// an HMAC under the NAS's secret, so that no NAS can name another's reservation. It
    /// stays valid across restarts, as the reservations do.
    fn class(&self, reservation: u64, nas: &Nas) -> String {
        format!("tollgate:{reservation}:{}", self.tag(reservation, nas))
    }

    fn tag(&self, reservation: u64, nas: &Nas) -> String {
        let mut mac =
            <HmacMd5 as KeyInit>::new_from_slice(&nas.secret).expect("HMAC takes any key length");
        mac.update(b"tollgate-class");
        mac.update(&reservation.to_be_bytes());
        let t = mac.finalize().into_bytes();
        t[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The reservation a Class names, when its tag is this NAS's.
    fn class_reservation(&self, p: &Packet<'_>, nas: &Nas) -> Option<u64> {
        p.attributes()
            .filter(|(t, _)| *t == attr::CLASS)
            .find_map(|(_, v)| {
                let s = std::str::from_utf8(v).ok()?;
                let mut parts = s.strip_prefix("tollgate:")?.splitn(2, ':');
                let r: u64 = parts.next()?.parse().ok()?;
                (parts.next()? == self.tag(r, nas)).then_some(r)
            })
    }

    pub(crate) fn handle(&self, p: &Packet<'_>, nas: &Nas, acct_port: bool) -> Outcome {
        match p.code {
            code::ACCESS_REQUEST => Outcome::Reply(self.access(p, nas)),
            code::STATUS_SERVER => {
                let reply = if acct_port {
                    code::ACCOUNTING_RESPONSE
                } else {
                    code::ACCESS_ACCEPT
                };
                let mut b = Builder::new(reply, p.id);
                b.message_authenticator();
                Outcome::Reply(b.finish_response(&p.authenticator, &nas.secret))
            }
            _ => {
                self.accounting(p, nas);
                Stats::bump(&self.stats.accounting_responses);
                Outcome::Reply(self.accounting_response(p, nas))
            }
        }
    }

    fn accounting_response(&self, p: &Packet<'_>, nas: &Nas) -> Vec<u8> {
        Builder::new(code::ACCOUNTING_RESPONSE, p.id).finish_response(&p.authenticator, &nas.secret)
    }

    /// Access-Request → authorize.
    fn access(&self, p: &Packet<'_>, nas: &Nas) -> Vec<u8> {
        let call_id = nonempty(p.text(attr::ACCT_SESSION_ID));
        // A repeat of an Access-Request already granted (the reply was lost past the cache):
        // the same grant, not a second reservation.
        if let Some(id) = call_id {
            let known = self.sessions.lock().get(id).cloned();
            if let Some(s) = known.filter(|s| s.nas == nas.index) {
                return self.accept(p, nas, s.reservation, s.seconds);
            }
        }
        let destination = number(p.text(attr::CALLED_STATION_ID).unwrap_or_default()).to_string();
        let source = nonempty(p.text(attr::CALLING_STATION_ID)).map(|s| number(s).to_string());
        let mut refusal = "validation.required".to_string();
        for (account, auth_type) in identities(p) {
            let req = AuthorizeRequest {
                account: account.clone(),
                auth_type: auth_type.map(str::to_string),
                destination: destination.clone(),
                source: source.clone(),
                time: None,
                // One Session-Timeout, never extended: the whole affordable time is held.
                whole_grant: true,
            };
            match self.engine.authorize(&req) {
                Ok(a) => {
                    let seconds = a.granted_seconds;
                    if let Some(id) = call_id {
                        self.track(
                            id,
                            Session {
                                reservation: a.reservation,
                                nas: nas.index,
                                account,
                                auth_type,
                                destination,
                                source,
                                seconds,
                                until: a.expires_at,
                            },
                        );
                    }
                    return self.accept(p, nas, a.reservation, seconds);
                }
                Err(e) => {
                    refusal = e.code().as_str().to_string();
                    if refusal != "account.not_found" {
                        break;
                    }
                }
            }
        }
        Stats::bump(&self.stats.rejects);
        let mut b = Builder::new(code::ACCESS_REJECT, p.id);
        b.message_authenticator()
            .attr(attr::REPLY_MESSAGE, refusal.as_bytes());
        vsa_text(
            &mut b,
            cisco::H323_RETURN_CODE,
            "h323-return-code",
            dict::h323_return_code(&refusal),
        );
        b.finish_response(&p.authenticator, &nas.secret)
    }

    fn accept(&self, p: &Packet<'_>, nas: &Nas, reservation: u64, seconds: u64) -> Vec<u8> {
        Stats::bump(&self.stats.accepts);
        let timeout = u32::try_from(seconds).unwrap_or(u32::MAX);
        let mut b = Builder::new(code::ACCESS_ACCEPT, p.id);
        b.message_authenticator()
            .int(attr::SESSION_TIMEOUT, timeout)
            .attr(attr::CLASS, self.class(reservation, nas).as_bytes());
        vsa_text(&mut b, cisco::H323_CREDIT_TIME, "h323-credit-time", timeout);
        vsa_text(&mut b, cisco::H323_RETURN_CODE, "h323-return-code", 0);
        b.finish_response(&p.authenticator, &nas.secret)
    }

    fn track(&self, call_id: &str, s: Session) {
        let mut sessions = self.sessions.lock();
        if sessions.len() < self.sessions_max || sessions.contains_key(call_id) {
            sessions.insert(call_id.to_string(), s);
        }
    }

    /// Start, Interim-Update, Accounting-On/Off and the rest (Stops go to [`Handler::stop`]).
    fn accounting(&self, p: &Packet<'_>, nas: &Nas) {
        let Some(call_id) = nonempty(p.text(attr::ACCT_SESSION_ID)) else {
            return;
        };
        match p.int(attr::ACCT_STATUS_TYPE) {
            Some(status::START) => {
                let Some(reservation) = self.class_reservation(p, nas) else {
                    return;
                };
                if self
                    .sessions
                    .lock()
                    .get(call_id)
                    .is_some_and(|s| s.reservation == reservation)
                {
                    return;
                }
                // Tied by its Class: what the Stop needs if it comes without one.
                let Some((account, auth_type)) = identities(p).into_iter().next() else {
                    return;
                };
                let session = Session {
                    reservation,
                    nas: nas.index,
                    account,
                    auth_type,
                    destination: number(p.text(attr::CALLED_STATION_ID).unwrap_or_default())
                        .to_string(),
                    source: nonempty(p.text(attr::CALLING_STATION_ID))
                        .map(|s| number(s).to_string()),
                    seconds: 0,
                    until: self.now()
                        + chrono::Duration::seconds(
                            tollgate::limits::call_duration_seconds_max as i64,
                        ),
                };
                self.track(call_id, session);
            }
            Some(status::INTERIM_UPDATE) => {
                let reservation = self.class_reservation(p, nas).or_else(|| {
                    self.sessions
                        .lock()
                        .get(call_id)
                        .filter(|s| s.nas == nas.index)
                        .map(|s| s.reservation)
                });
                if let Some(r) = reservation {
                    if let Ok(a) = self.engine.update(r) {
                        if let Some(s) = self.sessions.lock().get_mut(call_id) {
                            s.until = s.until.max(a.expires_at);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Stop → settle; the reply only once the settle is durable.
    pub(crate) fn stop(&self, p: &Packet<'_>, nas: &Nas) -> Outcome {
        let Some(call_id) = nonempty(p.text(attr::ACCT_SESSION_ID)) else {
            return Outcome::NoReply;
        };
        let session = {
            let mut sessions = self.sessions.lock();
            match sessions.get(call_id) {
                Some(s) if s.nas == nas.index => sessions.remove(call_id),
                _ => None,
            }
        };
        let duration = u64::from(p.int(attr::ACCT_SESSION_TIME).unwrap_or(0));
        let reservation = self
            .class_reservation(p, nas)
            .or(session.as_ref().map(|s| s.reservation));
        // When the call connected: the event's own time, else now less the NAS's delay.
        let ended = p
            .int(attr::EVENT_TIMESTAMP)
            .and_then(|t| DateTime::from_timestamp(i64::from(t), 0))
            .unwrap_or_else(|| {
                self.now()
                    - chrono::Duration::seconds(i64::from(
                        p.int(attr::ACCT_DELAY_TIME).unwrap_or(0),
                    ))
            });
        let connect = ended - chrono::Duration::seconds(duration.min(i64::MAX as u64) as i64);
        let candidates: Vec<(String, Option<&'static str>, String, Option<String>)> = match &session
        {
            Some(s) => vec![(
                s.account.clone(),
                s.auth_type,
                s.destination.clone(),
                s.source.clone(),
            )],
            None => {
                let destination =
                    number(p.text(attr::CALLED_STATION_ID).unwrap_or_default()).to_string();
                let source =
                    nonempty(p.text(attr::CALLING_STATION_ID)).map(|s| number(s).to_string());
                identities(p)
                    .into_iter()
                    .map(|(a, t)| (a, t, destination.clone(), source.clone()))
                    .collect()
            }
        };
        let mut last = None;
        for (account, auth_type, destination, source) in candidates {
            let req = SettleRequest {
                reservation,
                call_id: call_id.to_string(),
                duration,
                account: Some(account),
                auth_type: auth_type.map(str::to_string),
                destination: Some(destination),
                source,
                connect_time: Some(connect),
            };
            match self.engine.settle(&req) {
                Ok(_) => {
                    Stats::bump(&self.stats.settled);
                    Stats::bump(&self.stats.accounting_responses);
                    return Outcome::Reply(self.accounting_response(p, nas));
                }
                Err(e) if e.code().as_str() == "account.not_found" => last = Some(e),
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
        let Some(e) = last else {
            (self.log)(
                "warn",
                &format!("radius: Stop of call {call_id:?} names no account; not charged"),
            );
            Stats::bump(&self.stats.settles_refused);
            Stats::bump(&self.stats.accounting_responses);
            return Outcome::Reply(self.accounting_response(p, nas));
        };
        if e.code().kind() == ErrorKind::Server {
            // Not durable: no answer, so the NAS sends the Stop again; the call stays tracked.
            if let Some(s) = session {
                self.sessions.lock().insert(call_id.to_string(), s);
            }
            Stats::bump(&self.stats.settles_failed);
            (self.log)(
                "error",
                &format!(
                    "radius: Stop of call {call_id:?} not settled ({}); the NAS will retry",
                    e.code()
                ),
            );
            return Outcome::NoReply;
        }
        // A refusal no retry can change (no such account, no rate, a conflicting repeat):
        // answered, so the NAS does not resend it forever, and logged for the operator.
        Stats::bump(&self.stats.settles_refused);
        Stats::bump(&self.stats.accounting_responses);
        (self.log)(
            "warn",
            &format!(
                "radius: Stop of call {call_id:?} not charged: {} ({e})",
                e.code()
            ),
        );
        Outcome::Reply(self.accounting_response(p, nas))
    }

    /// Forget calls whose reservation expired long ago (their Stop, if it ever comes, is
    /// charged unreserved).
    pub(crate) fn sweep(&self) {
        let cutoff =
            self.now() - chrono::Duration::seconds(crate::limits::session_margin_seconds as i64);
        self.sessions.lock().retain(|_, s| s.until > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_from_uris() {
        assert_eq!(number("4420"), "4420");
        assert_eq!(number(" sip:4420@10.0.0.1;user=phone"), "4420");
        assert_eq!(number("tel:+4420;phone-context=x"), "+4420");
        assert_eq!(number("sips:alice@example.com"), "alice");
    }
}
