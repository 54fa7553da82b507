//! The tokenizer: splits prose and code into lowercase search terms (the rules are
//! in the documentation of the parent module).

use unicode_normalization::char::is_combining_mark;

/// Longest term kept, in chars; longer tokens are truncated at a char boundary.
pub const MAX_TERM_CHARS: usize = 64;
/// Most terms taken from one text (document or query); the rest is ignored.
pub const MAX_TERMS_PER_DOC: usize = 100_000;

fn is_word_char(c: char) -> bool {
    // Combining marks belong to the word they sit in (Devanagari vowel signs, a
    // decomposed accent), or they would split it.
    c.is_alphanumeric() || c == '_' || (!c.is_ascii() && is_combining_mark(c))
}

/// Scripts written without spaces between words, searched by overlapping pairs:
/// Han, Hiragana, Katakana and Hangul (whose words carry their particles) by pairs of
/// chars, and Thai, Lao, Khmer and Myanmar by pairs of clusters (a letter with the
/// vowel and tone marks written on it). Each range holds its script's marks.
fn is_paired(c: char) -> bool {
    matches!(c,
        '\u{e00}'..='\u{eff}'         // Thai, Lao
        | '\u{1000}'..='\u{109f}'     // Myanmar
        | '\u{1780}'..='\u{17ff}'     // Khmer
        | '\u{19e0}'..='\u{19ff}'     // Khmer symbols
        | '\u{1100}'..='\u{11ff}'
        | '\u{3005}'..='\u{3007}'
        | '\u{3040}'..='\u{30ff}'
        | '\u{3100}'..='\u{312f}'
        | '\u{3130}'..='\u{318f}'
        | '\u{31f0}'..='\u{31ff}'
        | '\u{3400}'..='\u{4dbf}'
        | '\u{4e00}'..='\u{9fff}'
        | '\u{a9e0}'..='\u{a9ff}'     // Myanmar Extended-B
        | '\u{aa60}'..='\u{aa7f}'     // Myanmar Extended-A
        | '\u{ac00}'..='\u{d7af}'
        | '\u{f900}'..='\u{faff}'
        | '\u{ff66}'..='\u{ff9f}'
        | '\u{20000}'..='\u{2ffff}')
}

/// The Khmer coeng and the Myanmar virama: the consonant after either is written
/// under the one before it, in the same cluster.
const STACKER_KHMER: char = '\u{17d2}';
const STACKER_MYANMAR: char = '\u{1039}';

/// Appends the lowercase char `c` to `term` without the accents of the Latin script
/// (`é` → `e`, `ß` → `ss`, `ø` → `o`), so `café` and `cafe` are one term. Other
/// scripts are kept as they are: their marks are letters of their own.
fn push_folded(term: &mut String, c: char) {
    match crate::text::latin_base(c).unwrap_or(c) {
        'ß' => term.push_str("ss"),
        'æ' => term.push_str("ae"),
        'œ' => term.push_str("oe"),
        'þ' => term.push_str("th"),
        'ø' => term.push('o'),
        'ł' => term.push('l'),
        'đ' | 'ð' => term.push('d'),
        'ħ' => term.push('h'),
        'ı' => term.push('i'),
        // A Latin accent typed as its own char after the letter.
        '\u{300}'..='\u{36f}' => {}
        c => term.push(c),
    }
}

/// Chars that join words into a path or dotted name (kept whole).
fn is_path_joiner(c: char) -> bool {
    matches!(c, '/' | '.' | ':' | '\\')
}

fn is_joiner(c: char) -> bool {
    is_path_joiner(c) || c == '-'
}

/// Hands terms to `emit`, enforcing the per-text bounds; each term is built in
/// one reused buffer, so tokenizing allocates nothing per term.
struct Terms<F> {
    emit: F,
    /// Terms emitted so far.
    count: usize,
    /// Most terms to emit.
    limit: usize,
    /// The term being built.
    buf: String,
    /// Byte ranges of a word's identifier parts (reused).
    parts: Vec<(usize, usize)>,
}

impl<F: FnMut(&str)> Terms<F> {
    fn new(emit: F, limit: usize) -> Self {
        Terms {
            emit,
            count: 0,
            limit,
            buf: String::with_capacity(MAX_TERM_CHARS),
            parts: Vec::new(),
        }
    }

    fn full(&self) -> bool {
        self.count >= self.limit
    }

    /// Lowercases, truncates, optionally stems and keeps `raw` if long enough.
    fn push(&mut self, raw: &str, stem: bool) {
        if self.full() {
            return;
        }
        let term = &mut self.buf;
        term.clear();
        match raw.get(..MAX_TERM_CHARS.min(raw.len())) {
            Some(ascii) if ascii.is_ascii() => {
                term.push_str(ascii);
                term.make_ascii_lowercase();
            }
            _ => {
                for c in raw
                    .chars()
                    .flat_map(char::to_lowercase)
                    .take(MAX_TERM_CHARS)
                {
                    push_folded(term, c);
                }
            }
        }
        if stem {
            stem_plural(term);
        }
        let mut chars = term.chars();
        let keep = match (chars.next(), chars.next()) {
            (None, _) => false,
            (Some(c), None) => c.is_numeric() || is_paired(c),
            _ => true,
        };
        if keep {
            self.count += 1;
            (self.emit)(term);
        }
    }

    /// A run of word and joiner chars: `src/api/auth.py`, `a::b`, `kebab-case`.
    fn push_chunk(&mut self, chunk: &str) {
        let chunk = chunk.trim_matches(is_joiner);
        if chunk.contains(is_path_joiner) {
            self.push(chunk, false);
            let file = chunk
                .rfind(['/', '\\'])
                .and_then(|at| chunk.get(at + 1..))
                .filter(|file| file.contains(is_path_joiner));
            if let Some(file) = file {
                self.push(file, false);
            }
        }
        for word in chunk.split(|c| !is_word_char(c)) {
            if self.full() {
                return;
            }
            self.push_word(word);
        }
    }

    /// A run of word chars, split into identifier parts.
    fn push_word(&mut self, word: &str) {
        if !word.is_ascii() && word.contains(is_paired) {
            self.push_mixed(word);
            return;
        }
        let mut parts = std::mem::take(&mut self.parts);
        parts.clear();
        let mut offset = 0;
        for segment in word.split('_') {
            split_case(segment, offset, &mut parts);
            offset += segment.len() + 1;
        }
        match parts.as_slice() {
            [] => {}
            [only] if *only == (0, word.len()) => self.push(word, true),
            _ => {
                self.push(word, false);
                for &(from, to) in &parts {
                    if self.full() {
                        break;
                    }
                    self.push(word.get(from..to).unwrap_or_default(), true);
                }
            }
        }
        self.parts = parts;
    }

    /// A word with chars of a script written without spaces ([`is_paired`]): each run
    /// of them as its overlapping pairs of chars or clusters (a run of one as itself),
    /// the runs between as words of their own.
    fn push_mixed(&mut self, word: &str) {
        let mut rest = word;
        while let Some(first) = rest.chars().next() {
            if self.full() {
                return;
            }
            let paired = is_paired(first);
            let end = rest
                .char_indices()
                .find(|&(_, c)| is_paired(c) != paired)
                .map_or(rest.len(), |(at, _)| at);
            let (run, tail) = rest.split_at(end);
            if paired {
                self.push_pairs(run);
            } else {
                self.push_word(run);
            }
            rest = tail;
        }
    }

    /// `数据库` gives `数据 据库`, `猫` gives `猫`; `ข้อมูล` gives `ข้อ อมู มูล` (a mark
    /// stays with the letter it is written on, and a Khmer or Burmese consonant
    /// stacked under another, after the coeng or the virama, with that one).
    fn push_pairs(&mut self, run: &str) {
        // Where each cluster starts (the first char and every char that is not a
        // mark or a stacked consonant), then the run's end.
        let mut prev = None;
        let mut bounds = run
            .char_indices()
            .filter(|&(at, c)| {
                let stacked = matches!(prev, Some(STACKER_KHMER | STACKER_MYANMAR));
                prev = Some(c);
                at == 0 || !(is_combining_mark(c) || stacked)
            })
            .map(|(at, _)| at)
            .chain(std::iter::once(run.len()));
        let (Some(mut from), Some(mut mid)) = (bounds.next(), bounds.next()) else {
            return;
        };
        let mut paired = false;
        for end in bounds {
            self.push(run.get(from..end).unwrap_or_default(), false);
            paired = true;
            (from, mid) = (mid, end);
        }
        if !paired {
            self.push(run, false);
        }
    }
}

/// Splits one `_`-free segment (at byte `offset` of its word) at lower→Upper,
/// acronym→Word and letter↔digit, as byte ranges of the word.
fn split_case(segment: &str, offset: usize, parts: &mut Vec<(usize, usize)>) {
    let mut start = 0;
    let mut prev: Option<char> = None;
    let mut chars = segment.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if let Some(p) = prev {
            let next_lower = chars.peek().is_some_and(|&(_, n)| n.is_lowercase());
            let boundary = (p.is_lowercase() && c.is_uppercase())
                || (p.is_uppercase() && c.is_uppercase() && next_lower)
                || (p.is_numeric() != c.is_numeric());
            if boundary {
                parts.push((offset + start, offset + at));
                start = at;
            }
        }
        prev = Some(c);
    }
    if start < segment.len() {
        parts.push((offset + start, offset + segment.len()));
    }
}

/// Very light English plural stemming on ASCII-letter words of 4+ letters, in place.
fn stem_plural(term: &mut String) {
    if term.len() < 4 || !term.bytes().all(|b| b.is_ascii_lowercase()) {
        return;
    }
    let len = term.len();
    if term.ends_with("ies") && len - 3 >= 2 {
        term.truncate(len - 3);
        term.push('y');
    } else if term.ends_with("sses") || term.ends_with("xes") {
        // `sses` → `ss`, `xes` → `x`.
        term.truncate(len - 2);
    } else if term.ends_with('s') && !["ss", "us", "is"].iter().any(|end| term.ends_with(end)) {
        term.pop();
    }
}

/// The next chunk of `text` (a run of word and joiner chars) at or after byte
/// `from` (a char boundary, outside a chunk), as a byte range.
pub(super) fn next_chunk(text: &str, from: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let (mut at, mut start) = (from, None);
    while let Some(&byte) = bytes.get(at) {
        // ASCII is classified from the byte; anything else from its char.
        let (inside, width) = if byte.is_ascii() {
            (is_ascii_chunk_byte(byte), 1)
        } else {
            let c = text.get(at..).and_then(|rest| rest.chars().next())?;
            (is_word_char(c) || is_joiner(c), c.len_utf8())
        };
        match (start, inside) {
            (None, true) => start = Some(at),
            (Some(s), false) => return Some((s, at)),
            _ => {}
        }
        at += width;
    }
    start.map(|s| (s, text.len()))
}

/// [`is_word_char`] or [`is_joiner`], for an ASCII byte.
fn is_ascii_chunk_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'/' | b'.' | b':' | b'\\' | b'-')
}

/// Calls `each` with every chunk of `text`, in order, while it returns true.
fn each_chunk(text: &str, mut each: impl FnMut(&str) -> bool) {
    let mut at = 0;
    while let Some((from, to)) = next_chunk(text, at) {
        if !each(text.get(from..to).unwrap_or_default()) {
            return;
        }
        at = to;
    }
}

/// Calls `emit` with the first `limit` terms of one chunk; returns how many there
/// were. A text's terms are its chunks' terms, in order, up to
/// [`MAX_TERMS_PER_DOC`] in all.
pub(super) fn chunk_terms(chunk: &str, limit: usize, emit: impl FnMut(&str)) -> usize {
    let mut terms = Terms::new(emit, limit);
    terms.push_chunk(chunk);
    terms.count
}

/// Calls `emit` with each search term of `text`, in order (the terms
/// [`tokenize`] returns, without allocating them); returns how many there were.
pub(super) fn tokenize_each(text: &str, emit: impl FnMut(&str)) -> usize {
    let mut terms = Terms::new(emit, MAX_TERMS_PER_DOC);
    each_chunk(text, |chunk| {
        terms.push_chunk(chunk);
        !terms.full()
    });
    terms.count
}

/// Splits text into lowercase search terms.
///
/// See the module documentation for the rules; the result keeps duplicates (they
/// are term frequencies) and is at most [`MAX_TERMS_PER_DOC`] long.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    tokenize_each(text, |term| out.push(term.to_owned()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts the terms of `text`, space-separated.
    fn check(text: &str, expected: &str) {
        assert_eq!(tokenize(text).join(" "), expected, "tokenizing {text:?}");
    }

    #[test]
    fn prose_is_lowercased_and_split_on_punctuation() {
        check(
            "Hello, World! (ok)\tfine\u{7}now",
            "hello world ok fine now",
        );
    }

    #[test]
    fn chunks_are_found_in_ascii_and_unicode_text() {
        let text = "  Café-au_lait, src/a.rs:3 ٣ é\u{7}x --";
        let mut chunks = Vec::new();
        let mut at = 0;
        while let Some((from, to)) = next_chunk(text, at) {
            chunks.push(text.get(from..to).unwrap_or_default());
            at = to;
        }
        assert_eq!(chunks, ["Café-au_lait", "src/a.rs:3", "٣", "é", "x", "--"]);
        for byte in 0..=0x7f_u8 {
            let c = char::from(byte);
            assert_eq!(is_ascii_chunk_byte(byte), is_word_char(c) || is_joiner(c));
        }
    }

    #[test]
    fn unicode_letters_and_digits_are_kept() {
        check("Café über ٣ Привет", "cafe uber ٣ привет");
    }

    #[test]
    fn latin_accents_are_folded_however_they_are_typed() {
        // Precomposed, decomposed (e + U+0301), and letters with no decomposition.
        check(
            "Café e\u{301}te\u{301} naïve Straße Øre Łódź",
            "cafe ete naive strasse ore lodz",
        );
        // Folding comes before the plural stem: `cafés` is `cafe`.
        check("cafés résumés", "cafe resume");
        // A letter whose base has no decomposition folds like that base.
        check("Ǿre ǣsc", "ore aesc");
        // Greek and Cyrillic marks are letters of their own and stay.
        check("άλφα йод", "άλφα йод");
    }

    #[test]
    fn cjk_runs_give_overlapping_pairs() {
        check("数据库迁移", "数据 据库 库迁 迁移");
        check("猫", "猫");
        check("データベース", "デー ータ タベ ベー ース");
        check("데이터베이스를 백업", "데이 이터 터베 베이 이스 스를 백업");
        // Runs of other scripts in the same word are words of their own.
        check("API接口v2", "api 接口 v2 2");
    }

    #[test]
    fn thai_lao_khmer_and_myanmar_runs_give_overlapping_pairs_of_clusters() {
        // "database": ฐ า น ข้ อ มู ล, tone and vowel marks on their letters.
        check("ฐานข้อมูล", "ฐา าน นข้ ข้อ อมู มูล");
        // So "data" (ข้อมูล) is three of those pairs.
        check("ข้อมูล", "ข้อ อมู มูล");
        check("ຂໍ້ມູນ", "ຂໍ້ມູ ມູນ");
        // "data": the second ន is written under the first (coeng), one cluster.
        check("ទិន្នន័យ", "ទិន្ន ន្នន័ ន័យ");
        check("ဒေတာ", "ဒေတာ");
        // "world": ဘ stacked under မ by the virama.
        check("ကမ္ဘာ", "ကမ္ဘာ");
        check("ကမ္ဘာကြီး", "ကမ္ဘာ မ္ဘာကြီး");
        // One cluster is kept whole; Latin beside it is a word of its own.
        check("ก API", "ก api");
    }

    #[test]
    fn combining_marks_stay_inside_their_word() {
        // The virama of `हिन्दी` is a mark: without it in the word, the word would
        // fall apart into pieces.
        check("हिन्दी भाषा", "हिन्दी भाषा");
    }

    #[test]
    fn single_letters_are_dropped_but_single_digits_kept() {
        check("a b 7 x __ é", "7");
    }

    #[test]
    fn camel_case_identifier_matches_its_words() {
        check("getUserById", "getuserbyid get user by id");
        check("PascalCase", "pascalcase pascal case");
    }

    #[test]
    fn acronym_runs_split_before_the_next_word() {
        check(
            "HTTPServer parseJSON",
            "httpserver http server parsejson parse json",
        );
    }

    #[test]
    fn snake_case_gives_whole_and_parts() {
        check(
            "user_id MAX_RETRY __init__",
            "user_id user id max_retry max retry __init__ init",
        );
    }

    #[test]
    fn kebab_case_only_splits() {
        check("kebab-case --flag", "kebab case flag");
    }

    #[test]
    fn digits_split_from_letters_in_identifiers() {
        check("oauth2Client", "oauth2client oauth 2 client");
    }

    #[test]
    fn paths_give_whole_path_file_name_and_segments() {
        check(
            "see src/api/auth.py.",
            "see src/api/auth.py auth.py src api auth py",
        );
    }

    #[test]
    fn rust_paths_give_segments_and_identifier_parts() {
        let expected = "std::collections::hashmap std collection hashmap hash map";
        check("std::collections::HashMap", expected);
    }

    #[test]
    fn long_tokens_are_truncated_at_a_char_boundary() {
        let got = tokenize(&"ж".repeat(100));
        assert_eq!(got, ["ж".repeat(MAX_TERM_CHARS)]);
        // Folded, the term is still cut after the same number of chars.
        let got = tokenize(&"é".repeat(100));
        assert_eq!(got, ["e".repeat(MAX_TERM_CHARS)]);
    }

    #[test]
    fn term_count_is_capped() {
        let text = "ab ".repeat(MAX_TERMS_PER_DOC + 10);
        assert_eq!(tokenize(&text).len(), MAX_TERMS_PER_DOC);
    }

    #[test]
    fn plural_stemming_is_light_and_spares_whole_identifiers() {
        check(
            "tokens token queries indexes classes",
            "token token query index class",
        );
        check("status bus analysis", "status bus analysis");
        check(
            "getUsers user_tokens",
            "getusers get user user_tokens user token",
        );
    }
}
