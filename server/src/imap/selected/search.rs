//! SEARCH and UID SEARCH: the keys checked against the view (`crate::imap::search`) and the
//! answer, with CONDSTORE's MODSEQ.

use std::num::{NonZeroU32, NonZeroU64};

use imap_codec::imap_types::core::{Charset, Vec1};
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::search::SearchKey;

use crate::imap::reply;
use crate::imap::search::{self, SearchError, SearchScope};
use crate::imap::session::{Done, Session};

impl Session<'_> {
    pub(in crate::imap) async fn search(
        &mut self,
        charset: Option<Charset<'static>>,
        criteria: Vec1<SearchKey<'static>>,
        uid: bool,
    ) -> Done {
        if let Some(charset) = charset {
            let name = charset.as_ref().to_ascii_uppercase();
            if name != "UTF-8" && name != "US-ASCII" {
                return Done::no(
                    Some(Code::BadCharset {
                        allowed: Vec::new(),
                    }),
                    reply::BAD_CHARSET,
                );
            }
        }
        let Some(view) = self.view() else {
            return Done::bad(reply::WRONG_STATE);
        };
        let scope = SearchScope {
            messages: &view.messages,
            recent: &view.recent,
        };
        let found = match search::search(&self.service.mailstore, &scope, criteria.as_ref()).await {
            Ok(found) => found,
            Err(SearchError::TooDeep) => return Done::bad(reply::SEARCH_TOO_DEEP),
            Err(SearchError::Mailstore(error)) => return Done::refused(&error),
        };
        let highest = uses_modseq(criteria.as_ref())
            .then(|| found.iter().map(|&i| view.messages[i].modseq).max())
            .flatten()
            .and_then(NonZeroU64::new);
        let numbers: Vec<NonZeroU32> = found
            .into_iter()
            .filter_map(|i| {
                let n = if uid {
                    view.messages[i].uid.0
                } else {
                    i as u32 + 1
                };
                NonZeroU32::new(n)
            })
            .collect();
        if highest.is_some() {
            self.condstore = true;
        }
        self.data(Data::Search(numbers, highest));
        Done::ok(reply::DONE)
    }
}

/// Whether the criteria mention MODSEQ anywhere (RFC 7162 §3.1.5).
fn uses_modseq(keys: &[SearchKey<'_>]) -> bool {
    keys.iter().any(|key| match key {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(keys) => uses_modseq(keys.as_ref()),
        SearchKey::Not(key) => uses_modseq(std::slice::from_ref(key)),
        SearchKey::Or(a, b) => {
            uses_modseq(std::slice::from_ref(a)) || uses_modseq(std::slice::from_ref(b))
        }
        _ => false,
    })
}
