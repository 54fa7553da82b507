//! Pages of a list answer. Every list is in creation order, and every listed object
//! carries its creation number (`n`), which is never reused and grows with each new
//! object of its kind. A cursor is the creation number of the last item a page held,
//! tagged with the kind of list: the next page starts after it. So items created
//! between two pages come on a later page, none is repeated or skipped, and an item
//! removed in between simply no longer shows. Callers treat a cursor as opaque text.

use crate::error::{Error, Result};
use std::ops::Bound;

/// Items on a page when the caller names no limit.
pub const DEFAULT_PAGE: u32 = 50;
/// Most items on one page.
pub const MAX_PAGE: u32 = 500;
/// Longest cursor accepted, in bytes.
pub const MAX_CURSOR: usize = 64;

/// What a caller asked of a list: how many items, and where to start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Most items to return (`None`: [`DEFAULT_PAGE`]); 1..=[`MAX_PAGE`].
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (`None`: from the start).
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        PageRequest {
            limit: Some(limit),
            cursor: None,
        }
    }

    /// The page of `limit` items after `cursor`.
    pub fn after(limit: u32, cursor: Option<String>) -> Self {
        PageRequest {
            limit: Some(limit),
            cursor,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in creation order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` when this page holds the last item.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The same page with each item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// A checked page request for one kind of list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    tag: &'static str,
    limit: usize,
    after: Option<u64>,
}

impl Window {
    /// Checks `req` for a list of kind `tag` (a short lowercase word naming the list):
    /// a limit outside 1..=[`MAX_PAGE`] is invalid on `limit`, a cursor that is not one
    /// this kind of list gave out is invalid on `cursor`.
    pub fn new(tag: &'static str, req: &PageRequest) -> Result<Self> {
        let limit = req.limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::invalid("limit", format!("must be 1..={MAX_PAGE}")));
        }
        let after = match &req.cursor {
            None => None,
            Some(c) => Some(decode(tag, c)?),
        };
        Ok(Window {
            tag,
            limit: limit as usize,
            after,
        })
    }

    /// Whether an item created as number `n` comes after the cursor.
    pub fn admits(&self, n: u64) -> bool {
        self.after.is_none_or(|a| n > a)
    }

    /// The page of `items`, which come in creation order with their creation numbers:
    /// those after the cursor, at most the limit of them.
    pub fn take<T>(&self, items: impl IntoIterator<Item = (u64, T)>) -> Page<T> {
        self.scan(
            items.into_iter().map(|(n, item)| (n, Some(item))),
            usize::MAX,
        )
    }

    /// Where a list kept by creation number starts for this page: after the cursor.
    pub fn start(&self) -> Bound<u64> {
        self.after.map_or(Bound::Unbounded, Bound::Excluded)
    }

    /// [`Window::take`] for a list whose items are looked at one by one, some of them
    /// not shown to this caller (`None`): the page ends at the limit or after `most`
    /// items looked at, and its cursor follows the last item looked at. So a page may
    /// hold fewer items than the limit, even none, and still have a next page; what
    /// one call costs is bounded however many items the caller may not see.
    pub fn scan<T>(
        &self,
        items: impl IntoIterator<Item = (u64, Option<T>)>,
        most: usize,
    ) -> Page<T> {
        let mut page = Vec::new();
        let mut last = None;
        let mut more = false;
        let admitted = items.into_iter().filter(|(n, _)| self.admits(*n));
        for (looked, (n, item)) in admitted.enumerate() {
            if page.len() == self.limit || looked == most {
                more = true;
                break;
            }
            last = Some(n);
            page.extend(item);
        }
        Page {
            items: page,
            next_cursor: if more {
                last.map(|n| encode(self.tag, n))
            } else {
                None
            },
        }
    }
}

/// The cursor after item number `n` of a list of kind `tag`.
fn encode(tag: &str, n: u64) -> String {
    format!("{tag}.{n:x}")
}

/// The creation number a cursor of kind `tag` names.
fn decode(tag: &str, cursor: &str) -> Result<u64> {
    let bad = || Error::invalid("cursor", "not a cursor this list gave out");
    if cursor.len() > MAX_CURSOR {
        return Err(bad());
    }
    let hex = cursor
        .strip_prefix(tag)
        .and_then(|rest| rest.strip_prefix('.'))
        .ok_or_else(bad)?;
    // One spelling per number: lowercase hex digits, no leading zero.
    let canonical =
        !hex.is_empty() && crate::text::is_lower_hex(hex) && (hex == "0" || !hex.starts_with('0'));
    if !canonical {
        return Err(bad());
    }
    u64::from_str_radix(hex, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    fn window(limit: Option<u32>, cursor: Option<&str>) -> Result<Window> {
        Window::new(
            "t",
            &PageRequest {
                limit,
                cursor: cursor.map(String::from),
            },
        )
    }

    fn numbered(ns: &[u64]) -> Vec<(u64, u64)> {
        ns.iter().map(|&n| (n, n)).collect()
    }

    #[test]
    fn pages_concatenate_to_the_whole_list() {
        let all: Vec<u64> = (0..23).map(|i| i * 3 + 1).collect();
        let mut got = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = window(Some(5), cursor.as_deref())
                .unwrap()
                .take(numbered(&all));
            pages += 1;
            got.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(got, all);
        assert_eq!(pages, 5);
    }

    #[test]
    fn a_page_that_ends_the_list_exactly_has_no_next_cursor() {
        let page = window(Some(3), None).unwrap().take(numbered(&[1, 2, 3]));
        assert_eq!(page.items, [1, 2, 3]);
        assert_eq!(page.next_cursor, None);
        let empty = window(None, None).unwrap().take(numbered(&[]));
        assert!(empty.items.is_empty());
        assert_eq!(empty.next_cursor, None);
    }

    #[test]
    fn the_default_page_is_fifty_and_the_largest_five_hundred() {
        let all: Vec<u64> = (0..600).collect();
        let page = window(None, None).unwrap().take(numbered(&all));
        assert_eq!(page.items.len(), 50);
        let page = window(Some(500), None).unwrap().take(numbered(&all));
        assert_eq!(page.items.len(), 500);
        assert_eq!(page.next_cursor.as_deref(), Some("t.1f3"));
    }

    #[test]
    fn limits_outside_one_to_five_hundred_are_invalid_on_limit() {
        for limit in [0, 501, u32::MAX] {
            match window(Some(limit), None) {
                Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "limit"),
                other => panic!("limit {limit}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_or_foreign_cursors_are_invalid_on_cursor() {
        let long = format!("t.{}", "f".repeat(70));
        for cursor in [
            "",
            "t",
            "t.",
            "t.xyz",
            "t.0a",
            "t.A",
            "t.-1",
            "t. 1",
            "u.1",
            "t.1.2",
            "t.10000000000000000",
            &long,
            "ț.1",
        ] {
            match window(None, Some(cursor)) {
                Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "cursor"),
                other => panic!("cursor {cursor:?}: {other:?}"),
            }
        }
        assert!(window(None, Some("t.0")).is_ok());
        assert!(window(None, Some("t.ffffffffffffffff")).is_ok());
    }

    #[test]
    fn items_added_between_pages_come_later_and_removed_ones_are_not_skipped_over() {
        let first = window(Some(2), None).unwrap().take(numbered(&[1, 2, 3, 4]));
        assert_eq!(first.items, [1, 2]);
        // 2 and 3 are removed, 5 and 6 created before the next page is asked for.
        let second = window(Some(2), first.next_cursor.as_deref())
            .unwrap()
            .take(numbered(&[1, 4, 5, 6]));
        assert_eq!(second.items, [4, 5]);
        let third = window(Some(2), second.next_cursor.as_deref())
            .unwrap()
            .take(numbered(&[1, 4, 5, 6]));
        assert_eq!(third.items, [6]);
        assert_eq!(third.next_cursor, None);
    }
}
