//! The structural scanner: finds where JSON values end without parsing them. A record that is
//! whole in the buffer is read in one pass: its keys and string values are stepped over eight
//! bytes at a time, its arrays and objects 64 bytes at a time with bit masks (quotes,
//! backslashes and brackets found with 16-byte vector compares, strings told apart with a
//! prefix XOR, so only the brackets outside strings are looked at one by one). A record cut by
//! the buffer's end, or one with a syntax error, goes through the byte-wise scan, which is
//! resumable across buffer refills and words the error.

use std::ops::ControlFlow;

/// Position of one top-level field inside a record's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub(super) key: (u32, u32),
    pub(super) value: (u32, u32),
    /// [`key_sig`] of the key as written (set by [`sign_keys`]).
    pub(super) sig: u64,
    /// False when the value is known to hold no backslash (no escape: strings in it read as
    /// written); the quick scan sees every backslash it steps over, the byte-wise scan says true.
    pub(super) escapes: bool,
}

/// A key's signature: its first eight bytes and its length, so that a lookup compares one
/// number per field and the key's text only on a likely hit.
#[inline]
pub(crate) const fn key_sig(key: &[u8]) -> u64 {
    // Shifted in byte by byte (a copy into a word would be a call to `memcpy`).
    let mut w = 0u64;
    let mut n = 0;
    while n < key.len() && n < 8 {
        w |= (key[n] as u64) << (8 * n);
        n += 1;
    }
    w ^ (key.len() as u64).wrapping_mul(LEN_MIX)
}

/// Mixes a key's length into its signature.
const LEN_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// The bit a signature sets in a record's key filter (one of 64).
#[inline]
pub(super) fn filter_bit(sig: u64) -> u64 {
    1 << (sig.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 58)
}

/// Signs the fields of a scanned record (`bytes`: the record) and returns its key filter:
/// a key whose bit is not set is not in the record.
pub(super) fn sign_keys(bytes: &[u8], fields: &mut [Field]) -> u64 {
    let mut filter = 0;
    for f in fields {
        f.sig = sig_at(bytes, f.key.0 as usize, f.key.1 as usize);
        filter |= filter_bit(f.sig);
    }
    filter
}

/// [`key_sig`] of the key at `bytes[a..b]`, with one word read when the bytes go on.
#[inline(always)]
pub(crate) fn sig_at(bytes: &[u8], a: usize, b: usize) -> u64 {
    let len = b - a;
    if a + 8 <= bytes.len() {
        let w = word(bytes, a);
        let w = if len < 8 {
            w & ((1u64 << (8 * len)) - 1)
        } else {
            w
        };
        w ^ (len as u64).wrapping_mul(LEN_MIX)
    } else {
        key_sig(&bytes[a..b])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth1 {
    Key,
    InKey,
    AfterKey,
    AwaitValue,
    InValue,
}

const C_OTHER: u8 = 0;
const C_WS: u8 = 1;
const C_QUOTE: u8 = 2;
const C_OPEN: u8 = 3;
const C_CLOSE: u8 = 4;
const C_COMMA: u8 = 5;
const C_COLON: u8 = 6;

static CLASS: [u8; 256] = {
    let mut t = [C_OTHER; 256];
    t[b' ' as usize] = C_WS;
    t[b'\t' as usize] = C_WS;
    t[b'\n' as usize] = C_WS;
    t[b'\r' as usize] = C_WS;
    t[b'"' as usize] = C_QUOTE;
    t[b'{' as usize] = C_OPEN;
    t[b'[' as usize] = C_OPEN;
    t[b'}' as usize] = C_CLOSE;
    t[b']' as usize] = C_CLOSE;
    t[b',' as usize] = C_COMMA;
    t[b':' as usize] = C_COLON;
    t
};

/// Index of the closing quote of a string whose content starts at `from`, or `Err(resume)`:
/// where to resume once more data is there.
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bytes of `w` equal to `b`: the lowest set high bit marks the first such byte exactly
/// (higher ones may be false positives, so only the lowest is used).
#[inline(always)]
fn bytes_equal(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * b as u64);
    x.wrapping_sub(ONES) & !x & HIGHS
}

#[inline(always)]
fn word(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Index of the closing quote of a string whose content starts at `from`, or `Err(resume)`:
/// where to resume once more data is there. Sixteen bytes at a time with a vector compare
/// (most strings in CloudTrail records are short: keys, ids, small values), then a
/// vectorised search for long ones, and eight at a time near the end of the data.
#[inline(always)]
fn string_end(buf: &[u8], from: usize) -> Result<usize, usize> {
    string_end_seen(buf, from, &mut false)
}

/// [`string_end`], setting `escapes` when the string holds a backslash.
#[inline(always)]
fn string_end_seen(buf: &[u8], mut from: usize, escapes: &mut bool) -> Result<usize, usize> {
    let mut vectors = 0;
    while from + 16 <= buf.len() && vectors < 4 {
        let m = quotes_or_backslashes(&buf[from..from + 16]);
        if m == 0 {
            from += 16;
            vectors += 1;
            continue;
        }
        match quote_or_escape(buf, from + m.trailing_zeros() as usize, escapes) {
            ControlFlow::Break(end) => return end,
            ControlFlow::Continue(next) => from = next,
        }
    }
    if vectors < 4 {
        // Fewer than sixteen bytes left: eight at a time, then byte by byte below.
        while from + 8 <= buf.len() {
            let w = word(buf, from);
            let m = bytes_equal(w, b'"') | bytes_equal(w, b'\\');
            if m == 0 {
                from += 8;
                continue;
            }
            match quote_or_escape(buf, from + (m.trailing_zeros() / 8) as usize, escapes) {
                ControlFlow::Break(end) => return end,
                ControlFlow::Continue(next) => from = next,
            }
        }
    }
    loop {
        let Some(off) = memchr::memchr2(b'"', b'\\', &buf[from.min(buf.len())..]) else {
            return Err(buf.len());
        };
        match quote_or_escape(buf, from + off, escapes) {
            ControlFlow::Break(end) => return end,
            ControlFlow::Continue(next) => from = next,
        }
    }
}

/// At the quote or backslash found at `at` inside a string: the string's end (as
/// [`string_end`] gives it), or where to look on, past the escaped byte.
#[inline(always)]
fn quote_or_escape(
    buf: &[u8],
    at: usize,
    escapes: &mut bool,
) -> ControlFlow<Result<usize, usize>, usize> {
    if buf[at] == b'"' {
        return ControlFlow::Break(Ok(at));
    }
    *escapes = true;
    if at + 1 >= buf.len() {
        return ControlFlow::Break(Err(at));
    }
    ControlFlow::Continue(at + 2)
}

/// Quotes and backslashes among sixteen bytes (bit `n`: byte `n`).
#[inline(always)]
fn quotes_or_backslashes(part: &[u8]) -> u32 {
    let v = wide::u8x16::new(part.try_into().expect("16 bytes"));
    (v.simd_eq(wide::u8x16::splat(b'"')) | v.simd_eq(wide::u8x16::splat(b'\\'))).to_bitmask()
}

/// The first byte at or after `from` that matters inside a nested value (a quote or a
/// bracket), eight bytes at a time; `buf.len()` when there is none.
#[inline]
fn next_structural(buf: &[u8], mut from: usize) -> usize {
    while from + 8 <= buf.len() {
        let w = word(buf, from);
        // '[' and '{', ']' and '}' differ only in bit 5.
        let lw = w | (ONES * 0x20);
        let m = bytes_equal(w, b'"') | bytes_equal(lw, b'{') | bytes_equal(lw, b'}');
        if m != 0 {
            return from + (m.trailing_zeros() / 8) as usize;
        }
        from += 8;
    }
    while from < buf.len() && !matches!(buf[from], b'"' | b'{' | b'}' | b'[' | b']') {
        from += 1;
    }
    from
}

/// Where the JSON value starting at `buf[start]` ends (exclusive), stepping over it as the
/// record scan does: a string to its closing quote, an array or object to its matching bracket
/// (64 bytes at a time), a number or literal to the next delimiter. Nothing inside is
/// validated. `None` when the value is cut off, its brackets do not match, or `start` is not
/// the first byte of a value.
pub(crate) fn value_end(buf: &[u8], start: usize) -> Option<usize> {
    match *buf.get(start)? {
        b'"' => string_end(buf, start + 1).ok().map(|q| q + 1),
        b'{' | b'[' => container_end(buf, start).ok().flatten(),
        b if CLASS[b as usize] == C_OTHER => {
            let mut i = start + 1;
            while i < buf.len() && CLASS[buf[i] as usize] == C_OTHER {
                i += 1;
            }
            Some(i)
        }
        _ => None,
    }
}

/// Index of the closing quote of a string whose content starts at `from`, when the content
/// holds no backslash and no control character (what can be borrowed as it is written);
/// `None` otherwise, or when the data ends first. Eight bytes at a time.
#[inline]
pub(crate) fn plain_string_end(buf: &[u8], mut from: usize) -> Option<usize> {
    while from + 8 <= buf.len() {
        let w = word(buf, from);
        // Bytes below 0x20: as `bytes_equal`, the lowest flagged byte is exact.
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
        let m = bytes_equal(w, b'"') | bytes_equal(w, b'\\') | control;
        if m != 0 {
            let at = from + (m.trailing_zeros() / 8) as usize;
            return (buf[at] == b'"').then_some(at);
        }
        from += 8;
    }
    while from < buf.len() {
        match buf[from] {
            b'"' => return Some(from),
            b'\\' | 0..=0x1f => return None,
            _ => from += 1,
        }
    }
    None
}

/// The first byte at or after `from` that is not JSON white space (`buf.len()` if none).
#[inline]
pub(crate) fn skip_ws(buf: &[u8], mut from: usize) -> usize {
    while from < buf.len() && CLASS[buf[from] as usize] == C_WS {
        from += 1;
    }
    from
}

/// String state carried from one 64-byte block to the next.
#[derive(Default)]
struct Carry {
    /// All ones when the previous block ended inside a string.
    in_str: u64,
    /// 1 when the previous block's last byte escapes this block's first.
    escape: u64,
    /// The backslashes of the last block (bit `n`: byte `n`).
    backslashes: u64,
}

/// The brackets of a 64-byte block that stand outside strings (bit `n`: byte `n`).
#[inline(always)]
fn brackets_outside_strings(chunk: &[u8; 64], carry: &mut Carry) -> u64 {
    let m = block_masks(chunk);
    carry.backslashes = m.backslash;
    let quotes = m.quote & !escaped_bytes(m.backslash, &mut carry.escape);
    let strings = prefix_xor(quotes) ^ carry.in_str;
    carry.in_str = 0u64.wrapping_sub(strings >> 63);
    m.bracket & !strings
}

/// Where the array or object opening at `buf[start]` ends (exclusive), 64 bytes at a time:
/// `Ok(None)` when the data ends first, `Err(())` at a bracket that does not match or nesting
/// deeper than 64 (the byte-wise scan and the parser take those). The open brackets are kept
/// as bits (1: `{`), so nothing is allocated.
#[inline(always)]
fn container_end(buf: &[u8], start: usize) -> Result<Option<usize>, ()> {
    Ok(container_end_seen(buf, start)?.map(|(end, _)| end))
}

/// [`container_end`], and whether the value holds a backslash.
#[inline(always)]
fn container_end_seen(buf: &[u8], start: usize) -> Result<Option<(usize, bool)>, ()> {
    let mut backslashes = 0u64;
    let mut open: u64 = 0;
    let mut depth = 0u32;
    let mut carry = Carry::default();
    let mut pad = [b' '; 64];
    let mut base = start;
    while base < buf.len() {
        let chunk: &[u8; 64] = match buf.get(base..base + 64) {
            Some(c) => c.try_into().expect("64 bytes"),
            None => {
                // The last, partial block: padded with spaces (no bracket, no quote).
                let rest = &buf[base..];
                pad[..rest.len()].copy_from_slice(rest);
                pad[rest.len()..].fill(b' ');
                &pad
            }
        };
        let mut brackets = brackets_outside_strings(chunk, &mut carry);
        while brackets != 0 {
            let at = base + brackets.trailing_zeros() as usize;
            brackets &= brackets - 1;
            // '{' 0x7b and '[' 0x5b differ in bit 5; '}' and ']' are 2 above them (bit 2 set).
            let b = buf[at];
            let curly = u64::from(b & 0x20 != 0);
            if b & 0x04 == 0 {
                if depth == 64 {
                    return Err(());
                }
                open = (open << 1) | curly;
                depth += 1;
            } else {
                if depth == 0 || open & 1 != curly {
                    return Err(());
                }
                open >>= 1;
                depth -= 1;
                if depth == 0 {
                    // The block's backslashes up to the closing bracket.
                    let upto = u64::MAX >> (63 - (at - base));
                    let escapes = (backslashes | (carry.backslashes & upto)) != 0;
                    return Ok(Some((at + 1, escapes)));
                }
            }
        }
        backslashes |= carry.backslashes;
        base += 64;
    }
    Ok(None)
}

/// What the quick scan of a record made of.
enum Quick {
    /// The record ends here; its fields are recorded.
    Done(usize),
    /// The data ends inside the record.
    NeedMore,
    /// Something unusual (a syntax error).
    Unusual,
}

/// Bit masks of one 64-byte block (bit `n`: byte `n`).
struct Block {
    quote: u64,
    backslash: u64,
    bracket: u64,
}

#[inline(always)]
fn block_masks(chunk: &[u8; 64]) -> Block {
    let (mut quote, mut bracket) = (0u64, 0u64);
    let mut slashes = [wide::u8x16::splat(0); 4];
    for (n, part) in chunk.chunks_exact(16).enumerate() {
        let v = wide::u8x16::new(part.try_into().expect("16 bytes"));
        // '[' and '{', ']' and '}' differ only in bit 5.
        let lv = v | wide::u8x16::splat(0x20);
        let q = u64::from(v.simd_eq(wide::u8x16::splat(b'"')).to_bitmask());
        slashes[n] = v.simd_eq(wide::u8x16::splat(b'\\'));
        let k = u64::from(
            (lv.simd_eq(wide::u8x16::splat(b'{')) | lv.simd_eq(wide::u8x16::splat(b'}')))
                .to_bitmask(),
        );
        quote |= q << (16 * n);
        bracket |= k << (16 * n);
    }
    // Backslashes are rare in CloudTrail's text: their mask is put together only for a block
    // that holds one.
    let any = (slashes[0] | slashes[1] | slashes[2] | slashes[3]).to_bitmask() != 0;
    let backslash = if any {
        (0..4).fold(0u64, |m, n| {
            m | u64::from(slashes[n].to_bitmask()) << (16 * n)
        })
    } else {
        0
    };
    Block {
        quote,
        backslash,
        bracket,
    }
}

/// The bytes escaped by a backslash (odd runs of backslashes escape the byte after them);
/// `carry` says whether the previous block's last byte escapes this block's first.
#[inline(always)]
fn escaped_bytes(backslash: u64, carry: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    if backslash | *carry == 0 {
        // No backslash here, none escaping into this block (most blocks).
        return 0;
    }
    let backslash = backslash & !*carry;
    let follows = (backslash << 1) | *carry;
    let odd_starts = backslash & !EVEN & !follows;
    let (even_runs, overflow) = odd_starts.overflowing_add(backslash);
    *carry = u64::from(overflow);
    (EVEN ^ (even_runs << 1)) & follows
}

/// Bit `n` set when an odd number of the bits at or below `n` are set: inside a string,
/// counting opening quotes in and closing quotes out.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// Resumable scan of one JSON value: finds where it ends and, for an object, where its
/// top-level fields are. Offsets are relative to the value's first byte.
#[derive(Debug)]
pub(super) struct ValueScan {
    pub(super) i: usize,
    stack: Vec<u8>,
    in_str: bool,
    track: bool,
    state: Depth1,
    key: (usize, usize),
    val_start: usize,
    val_end: usize,
    pub(super) fields: Vec<Field>,
    first: u8,
    /// The key filter of the fields, when the quick scan signed them as it went (`None`:
    /// they are to be signed, [`sign_keys`]).
    pub(super) filter: Option<u64>,
}

impl ValueScan {
    pub(super) fn new() -> Self {
        ValueScan {
            i: 0,
            stack: Vec::with_capacity(32),
            in_str: false,
            track: false,
            state: Depth1::Key,
            key: (0, 0),
            val_start: 0,
            val_end: 0,
            fields: Vec::with_capacity(32),
            first: 0,
            filter: None,
        }
    }

    pub(super) fn reset(&mut self, first: u8, track: bool) {
        self.i = 0;
        self.stack.clear();
        self.in_str = false;
        self.track = track && first == b'{';
        self.state = Depth1::Key;
        self.fields.clear();
        self.first = first;
        self.filter = None;
    }

    fn push_field(&mut self) {
        if self.track && self.state == Depth1::InValue {
            self.fields.push(Field {
                key: (self.key.0 as u32, self.key.1 as u32),
                value: (self.val_start as u32, self.val_end as u32),
                sig: 0,
                escapes: true,
            });
        }
        self.state = Depth1::Key;
    }

    /// Drops the first `n` bytes (they were consumed while skipping an oversized value).
    pub(super) fn rebase(&mut self, n: usize) {
        self.i -= n;
        self.track = false;
        self.fields.clear();
        self.filter = None;
    }

    /// Continues scanning `buf` (which starts at the value's first byte). `Ok(Some(len))` when
    /// the value is complete, `Ok(None)` when more data is needed.
    pub(super) fn run(&mut self, buf: &[u8], eof: bool) -> Result<Option<usize>, String> {
        // Scalars (numbers, true, false, null) end at a delimiter.
        if !matches!(self.first, b'{' | b'[' | b'"') {
            while self.i < buf.len() {
                match CLASS[buf[self.i] as usize] {
                    C_OTHER => self.i += 1,
                    _ => return Ok(Some(self.i)),
                }
            }
            return Ok(if eof { Some(self.i) } else { None });
        }
        if self.track && self.i == 0 {
            // A record from its start, whole in the buffer (nearly always): the quick scan.
            // Otherwise the byte-wise scan below, which resumes where it stopped when more
            // data comes (and words what the quick one finds unusual).
            match self.quick_record(buf) {
                Quick::Done(len) => return Ok(Some(len)),
                Quick::NeedMore | Quick::Unusual => {
                    self.fields.clear();
                    self.stack.clear();
                }
            }
        }
        loop {
            if self.in_str {
                match string_end(buf, self.i) {
                    Ok(q) => {
                        self.in_str = false;
                        self.i = q + 1;
                        if self.stack.is_empty() {
                            return Ok(Some(self.i));
                        }
                        if self.track && self.stack.len() == 1 {
                            match self.state {
                                Depth1::InKey => {
                                    self.key.1 = q;
                                    self.state = Depth1::AfterKey;
                                }
                                Depth1::InValue => self.val_end = q + 1,
                                _ => {}
                            }
                        }
                    }
                    Err(resume) => {
                        self.i = resume;
                        return Ok(None);
                    }
                }
            }
            if self.track && self.stack.len() == 1 {
                if self.scan_depth1(buf)? {
                    return Ok(Some(self.i));
                }
            } else if self.scan_nested(buf)? {
                return Ok(Some(self.i));
            }
            if self.i >= buf.len() && !self.in_str {
                return Ok(None);
            }
        }
    }

    /// The record's own level: tracks keys and values. Returns true when the record closed;
    /// false when it stopped at a string or a nested value (or the end of the data).
    fn scan_depth1(&mut self, buf: &[u8]) -> Result<bool, String> {
        while self.i < buf.len() {
            let b = buf[self.i];
            match CLASS[b as usize] {
                C_WS => {}
                C_QUOTE => {
                    match self.state {
                        Depth1::Key => {
                            self.key.0 = self.i + 1;
                            self.state = Depth1::InKey;
                        }
                        Depth1::AwaitValue => {
                            self.val_start = self.i;
                            self.state = Depth1::InValue;
                        }
                        Depth1::InValue => {}
                        s => {
                            return Err(format!(
                                "unexpected '\"' at byte {} of a record ({s:?})",
                                self.i
                            ))
                        }
                    }
                    self.in_str = true;
                    self.i += 1;
                    return Ok(false);
                }
                C_OPEN => {
                    if self.state == Depth1::AwaitValue {
                        self.val_start = self.i;
                        self.state = Depth1::InValue;
                    }
                    self.stack.push(b);
                    self.i += 1;
                    return Ok(false);
                }
                C_CLOSE => {
                    if b != b'}' {
                        return Err(format!("unexpected ']' at byte {} of a record", self.i));
                    }
                    self.push_field();
                    self.stack.pop();
                    self.i += 1;
                    return Ok(true);
                }
                C_COMMA => self.push_field(),
                C_COLON => {
                    if self.state != Depth1::AfterKey {
                        return Err(format!("unexpected ':' at byte {} of a record", self.i));
                    }
                    self.state = Depth1::AwaitValue;
                }
                _ => {
                    if self.state == Depth1::AwaitValue {
                        self.val_start = self.i;
                        self.state = Depth1::InValue;
                    }
                    self.val_end = self.i + 1;
                }
            }
            self.i += 1;
        }
        Ok(false)
    }

    /// A whole record in one go, `buf` starting at its `{`: each key, its colon, its value
    /// (strings with [`string_end`], arrays and objects with [`container_end`], scalars up to
    /// the delimiter), then a comma or the closing brace. Leaves `i` at 0.
    fn quick_record(&mut self, buf: &[u8]) -> Quick {
        let n = buf.len();
        self.fields.clear();
        let mut filter = 0;
        let mut i = skip_ws(buf, 1);
        if i < n && buf[i] == b'}' {
            self.filter = Some(0);
            return Quick::Done(i + 1);
        }
        loop {
            match buf.get(i) {
                None => return Quick::NeedMore,
                Some(b'"') => {}
                Some(_) => return Quick::Unusual,
            }
            let Ok(key_end) = string_end(buf, i + 1) else {
                return Quick::NeedMore;
            };
            let key = (i + 1, key_end);
            // Compact JSON (as CloudTrail writes it) has no white space: the punctuation is
            // looked for first.
            i = key_end + 1;
            if buf.get(i) != Some(&b':') {
                i = skip_ws(buf, i);
                match buf.get(i) {
                    None => return Quick::NeedMore,
                    Some(b':') => {}
                    Some(_) => return Quick::Unusual,
                }
            }
            i = skip_ws(buf, i + 1);
            let start = i;
            let mut escapes = false;
            i = match buf.get(i) {
                None => return Quick::NeedMore,
                Some(b'"') => match string_end_seen(buf, i + 1, &mut escapes) {
                    Ok(q) => q + 1,
                    Err(_) => return Quick::NeedMore,
                },
                Some(b'{' | b'[') => match container_end_seen(buf, i) {
                    Ok(Some((end, seen))) => {
                        escapes = seen;
                        end
                    }
                    Ok(None) => return Quick::NeedMore,
                    Err(()) => return Quick::Unusual,
                },
                Some(&b) if CLASS[b as usize] == C_OTHER => {
                    while i < n && CLASS[buf[i] as usize] == C_OTHER {
                        escapes |= buf[i] == b'\\';
                        i += 1;
                    }
                    i
                }
                Some(_) => return Quick::Unusual,
            };
            // Signed here, while the key's bytes are at hand.
            let sig = sig_at(buf, key.0, key.1);
            filter |= filter_bit(sig);
            self.fields.push(Field {
                key: (key.0 as u32, key.1 as u32),
                value: (start as u32, i as u32),
                sig,
                escapes,
            });
            let mut next = buf.get(i);
            if !matches!(next, Some(b',' | b'}')) {
                i = skip_ws(buf, i);
                next = buf.get(i);
            }
            match next {
                None => return Quick::NeedMore,
                Some(b',') => {
                    i += 1;
                    if buf.get(i) != Some(&b'"') {
                        i = skip_ws(buf, i);
                    }
                }
                Some(b'}') => {
                    self.filter = Some(filter);
                    return Quick::Done(i + 1);
                }
                Some(_) => return Quick::Unusual,
            }
        }
    }

    /// Inside a nested value, 64 bytes at a time: strings are found with bit masks (no
    /// per-string work) and only brackets outside strings are looked at, one by one. Stops at
    /// the bracket that closes the value or returns to the record's level (`Some`, as
    /// [`ValueScan::scan_nested`] would), or before the last block of data (`None`, leaving
    /// `i` and `in_str` for the byte-wise scan to go on from).
    fn skip_blocks(&mut self, buf: &[u8]) -> Result<Option<bool>, String> {
        let mut carry = Carry::default();
        // At least one byte after the block, so that a string escape at its end can be
        // stepped over.
        while self.i + 64 < buf.len() {
            let base = self.i;
            let chunk: &[u8; 64] = buf[base..base + 64].try_into().expect("64 bytes");
            let mut brackets = brackets_outside_strings(chunk, &mut carry);
            while brackets != 0 {
                let at = base + brackets.trailing_zeros() as usize;
                brackets &= brackets - 1;
                let b = buf[at];
                if b == b'{' || b == b'[' {
                    self.stack.push(b);
                    if self.track && self.stack.len() == 1 {
                        self.i = at + 1;
                        return Ok(Some(false));
                    }
                    continue;
                }
                let open = self.stack.pop();
                if !matches!((open, b), (Some(b'{'), b'}') | (Some(b'['), b']')) {
                    return Err(format!(
                        "unexpected '{}' at byte {at} of a value",
                        b as char
                    ));
                }
                if self.stack.is_empty() {
                    self.i = at + 1;
                    return Ok(Some(true));
                }
                if self.track && self.stack.len() == 1 {
                    self.i = at + 1;
                    self.val_end = self.i;
                    return Ok(Some(false));
                }
            }
            self.i = base + 64;
        }
        if carry.in_str != 0 {
            // Inside a string: the byte-wise scan goes on from here (past an escaped byte).
            self.in_str = true;
            self.i += carry.escape as usize;
            return Ok(Some(false));
        }
        Ok(None)
    }

    /// Anywhere else: only strings and brackets matter. Returns true when the value closed;
    /// false when it stopped at a string, back at the record's level, or at the end of data.
    fn scan_nested(&mut self, buf: &[u8]) -> Result<bool, String> {
        if !self.stack.is_empty() {
            if let Some(done) = self.skip_blocks(buf)? {
                return Ok(done);
            }
        }
        loop {
            self.i = next_structural(buf, self.i);
            if self.i >= buf.len() {
                return Ok(false);
            }
            let b = buf[self.i];
            match CLASS[b as usize] {
                C_QUOTE => {
                    // Skip the string here rather than in `run`: nested values are mostly
                    // short strings.
                    match string_end(buf, self.i + 1) {
                        Ok(q) => {
                            self.i = q + 1;
                            if self.stack.is_empty() {
                                return Ok(true);
                            }
                            continue;
                        }
                        Err(resume) => {
                            self.in_str = true;
                            self.i = resume;
                            return Ok(false);
                        }
                    }
                }
                C_OPEN => {
                    self.stack.push(b);
                    self.i += 1;
                    if self.track && self.stack.len() == 1 {
                        return Ok(false);
                    }
                    continue;
                }
                C_CLOSE => {
                    let open = self.stack.pop();
                    if !matches!((open, b), (Some(b'{'), b'}') | (Some(b'['), b']')) {
                        return Err(format!(
                            "unexpected '{}' at byte {} of a value",
                            b as char, self.i
                        ));
                    }
                    self.i += 1;
                    if self.stack.is_empty() {
                        return Ok(true);
                    }
                    if self.track && self.stack.len() == 1 {
                        self.val_end = self.i;
                        return Ok(false);
                    }
                    continue;
                }
                _ => {}
            }
            self.i += 1;
        }
    }
}
