//! The attributes Tollgate reads and writes (RFC 2865 §5, RFC 2866 §5, RFC 2869 §5) and the
//! Cisco vendor-specific ones that gateways read (vendor 9; FreeRADIUS's `dictionary.cisco`).

/// Attribute types.
pub mod attr {
    /// User-Name: the account identifier.
    pub const USER_NAME: u8 = 1;
    /// User-Password (never read: the switch authenticated the caller).
    pub const USER_PASSWORD: u8 = 2;
    /// NAS-IP-Address.
    pub const NAS_IP_ADDRESS: u8 = 4;
    /// NAS-Port.
    pub const NAS_PORT: u8 = 5;
    /// Service-Type.
    pub const SERVICE_TYPE: u8 = 6;
    /// Login-IP-Host.
    pub const LOGIN_IP_HOST: u8 = 14;
    /// Login-Service.
    pub const LOGIN_SERVICE: u8 = 15;
    /// Reply-Message: the refusal's code in an Access-Reject.
    pub const REPLY_MESSAGE: u8 = 18;
    /// Class: names the reservation; the NAS echoes it in accounting.
    pub const CLASS: u8 = 25;
    /// Vendor-Specific.
    pub const VENDOR_SPECIFIC: u8 = 26;
    /// Session-Timeout: the call's longest duration, in seconds.
    pub const SESSION_TIMEOUT: u8 = 27;
    /// Called-Station-Id: the destination.
    pub const CALLED_STATION_ID: u8 = 30;
    /// Calling-Station-Id: the caller's number (ANI).
    pub const CALLING_STATION_ID: u8 = 31;
    /// NAS-Identifier.
    pub const NAS_IDENTIFIER: u8 = 32;
    /// Acct-Status-Type.
    pub const ACCT_STATUS_TYPE: u8 = 40;
    /// Acct-Delay-Time: seconds the NAS has been trying to send this record.
    pub const ACCT_DELAY_TIME: u8 = 41;
    /// Acct-Session-Id: the call id.
    pub const ACCT_SESSION_ID: u8 = 44;
    /// Acct-Session-Time: the call's duration, in seconds.
    pub const ACCT_SESSION_TIME: u8 = 46;
    /// Acct-Terminate-Cause.
    pub const ACCT_TERMINATE_CAUSE: u8 = 49;
    /// Event-Timestamp (RFC 2869): when the event happened, in UNIX seconds.
    pub const EVENT_TIMESTAMP: u8 = 55;
    /// Message-Authenticator (RFC 3579 §3.2).
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
}

/// Acct-Status-Type values (RFC 2866 §5.1).
pub mod status {
    /// Start.
    pub const START: u32 = 1;
    /// Stop.
    pub const STOP: u32 = 2;
    /// Interim-Update.
    pub const INTERIM_UPDATE: u32 = 3;
    /// Accounting-On.
    pub const ACCOUNTING_ON: u32 = 7;
    /// Accounting-Off.
    pub const ACCOUNTING_OFF: u32 = 8;
}

/// Cisco's vendor id and the VSAs of its H.323/SIP gateways (values are `name=value` text).
pub mod cisco {
    /// Cisco's SMI vendor number.
    pub const VENDOR: u32 = 9;
    /// h323-conf-id.
    pub const H323_CONF_ID: u8 = 24;
    /// h323-credit-time: seconds the call may last.
    pub const H323_CREDIT_TIME: u8 = 102;
    /// h323-return-code: why a call was refused (0 = go ahead).
    pub const H323_RETURN_CODE: u8 = 103;
}

/// The h323-return-code for a refusal's code (the table Cisco's IVR scripts expect): 1
/// invalid account, 3 account in use (its call capacity), 4 zero balance, 7 user denied, 9
/// called number blocked (no rate), 8 service not available (everything else).
pub fn h323_return_code(error_code: &str) -> u32 {
    match error_code {
        "account.not_found" => 1,
        "capacity.exceeded" => 3,
        "balance.insufficient" => 4,
        "account.blocked" | "client.blocked" | "company.blocked" => 7,
        "rating.no_rate" => 9,
        _ => 8,
    }
}
