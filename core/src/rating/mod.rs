//! The pure rating kernel (DESIGN §7): the billing formula, longest-prefix rate lookup and
//! rate-deck parsing. No storage and no API here: the engine feeds these from the database and
//! the softswitch calls them through `authorize`/`settle`.

pub mod cdr;
pub mod deck;
pub mod formula;
pub mod prefix;

pub use deck::{parse_deck, parse_deck_with, DateFormat, Deck, DeckOptions, DeckRow};
pub use formula::{
    billed_seconds, cost, cost_after_volume, max_seconds, max_seconds_with_volume, volume_covered,
    RateTerms,
};
pub use prefix::{validate_code, PrefixIndex, RateIndex, Timed};
