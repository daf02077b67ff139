//! Mandarin text normalization: numbers, dates, times, percentages, money, units and phone
//! numbers to the words a reader says.
//!
//! Follows the readings of TensorFlowTTS's `cn_tn.py` (the reference processor's normalizer):
//! years and phone numbers digit by digit, `2` before `百 千 万 亿` at the head of a number as
//! `两`, `10..19` without the leading `一`. It differs where that script reads badly: a long
//! number that counts something (`1234人`) is a cardinal, not digits; `:` times and `-`
//! negatives are read; units written in Latin letters (`km`, `kg`, `℃`) are spoken.

/// Mandarin digits `0..=9`.
const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// Units after a number, written form -> spoken form. Longest first where they share a prefix.
const UNITS: &[(&str, &str)] = &[
    ("km/h", "公里每小时"),
    ("m/s", "米每秒"),
    ("°C", "摄氏度"),
    ("℃", "摄氏度"),
    ("°F", "华氏度"),
    ("℉", "华氏度"),
    ("°", "度"),
    ("km", "公里"),
    ("kg", "公斤"),
    ("cm", "厘米"),
    ("mm", "毫米"),
    ("ml", "毫升"),
    ("mg", "毫克"),
    ("GB", "吉字节"),
    ("MB", "兆字节"),
    ("KB", "千字节"),
    ("kHz", "千赫兹"),
    ("Hz", "赫兹"),
    ("ms", "毫秒"),
    ("m", "米"),
    ("g", "克"),
    ("s", "秒"),
    ("h", "小时"),
    ("L", "升"),
];

/// Currency signs before a number -> the word after it.
const CURRENCY_SIGNS: &[(char, &str)] = &[
    ('¥', "元"),
    ('￥', "元"),
    ('$', "美元"),
    ('€', "欧元"),
    ('£', "英镑"),
];

/// `text` with every number written out in Mandarin words.
pub fn normalize(text: &str) -> String {
    normalize_mapped(text).0
}

/// Where each piece of normalized text came from: `(normalized bytes, input bytes)` for each
/// step of the normalizer, in order (a number's Han reading maps to the digits it reads).
pub type SourceMap = Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>;

/// [`normalize`], with the map from the normalized text back to `text`.
pub fn normalize_mapped(text: &str) -> (String, SourceMap) {
    let chars: Vec<char> = text.chars().map(fold_width).collect();
    // Byte offset of each input character (and of the end).
    let offsets: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let mut out = String::with_capacity(text.len() * 2);
    let mut map = SourceMap::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let (from, written) = (i, out.len());
        i = normalize_step(&chars, i, &mut out);
        map.push((
            written..out.len(),
            offsets[from]..offsets[i.min(chars.len())],
        ));
    }
    (out, map)
}

/// The input bytes that normalized bytes `range` came from, by `map`.
pub fn source_of(map: &SourceMap, range: std::ops::Range<usize>) -> Option<std::ops::Range<usize>> {
    let first = map.iter().find(|(out, _)| out.contains(&range.start))?;
    let last = map
        .iter()
        .rev()
        .find(|(out, _)| out.start < range.end && range.end <= out.end)?;
    Some(first.1.start..last.1.end)
}

/// One step of the normalizer from character `i`: what it writes to `out`; the next `i`.
fn normalize_step(chars: &[char], i: usize, out: &mut String) -> usize {
    {
        let c = chars[i];
        let currency = CURRENCY_SIGNS
            .iter()
            .find(|(sign, _)| *sign == c)
            .filter(|_| chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if let Some((_, word)) = currency {
            let number = Number::scan(chars, i + 1);
            out.push_str(&cardinal_or_decimal(&number.int, &number.frac));
            out.push_str(word);
            return number.end;
        }
        if !c.is_ascii_digit() {
            // A minus sign before a number, not between two numbers or words.
            let before_is_word = i > 0 && chars[i - 1].is_ascii_alphanumeric();
            if (c == '-' || c == '−')
                && !before_is_word
                && chars.get(i + 1).is_some_and(char::is_ascii_digit)
            {
                out.push('负');
            } else {
                out.push(c);
            }
            return i + 1;
        }
        read_number(chars, i, out)
    }
}

/// Full-width digits, signs and letters to ASCII (`１２％` -> `12%`).
fn fold_width(c: char) -> char {
    match c {
        '\u{ff01}'..='\u{ff5e}' if !matches!(c, '，' | '！' | '？' | '；' | '：' | '（' | '）') => {
            char::from_u32(u32::from(c) - 0xfee0).unwrap_or(c)
        }
        _ => c,
    }
}

/// A run of digits with an optional decimal part, starting at `start`.
struct Number {
    int: String,
    frac: String,
    end: usize,
}

impl Number {
    fn scan(chars: &[char], start: usize) -> Number {
        let mut end = start;
        let mut int = String::new();
        while end < chars.len() && (chars[end].is_ascii_digit() || is_group_comma(chars, end)) {
            if chars[end].is_ascii_digit() {
                int.push(chars[end]);
            }
            end += 1;
        }
        let mut frac = String::new();
        if chars.get(end) == Some(&'.') && chars.get(end + 1).is_some_and(char::is_ascii_digit) {
            end += 1;
            while end < chars.len() && chars[end].is_ascii_digit() {
                frac.push(chars[end]);
                end += 1;
            }
        }
        Number { int, frac, end }
    }
}

/// A `,` between digits that groups thousands (`1,234,567`), not one that lists numbers.
fn is_group_comma(chars: &[char], i: usize) -> bool {
    chars[i] == ','
        && i > 0
        && chars[i - 1].is_ascii_digit()
        && chars.len() >= i + 4
        && chars[i + 1..i + 4].iter().all(char::is_ascii_digit)
        && chars.get(i + 4).is_none_or(|c| !c.is_ascii_digit())
}

/// Read the number at `start` (a digit) into `out`, with what its context says it is; returns
/// the index after it.
fn read_number(chars: &[char], start: usize, out: &mut String) -> usize {
    let digits_end = (start..chars.len())
        .find(|&j| !chars[j].is_ascii_digit())
        .unwrap_or(chars.len());
    let run: String = chars[start..digits_end].iter().collect();
    let next = chars.get(digits_end).copied();
    let after = |k: usize| chars.get(digits_end + k).copied();
    let digit_after = |k: usize| after(k).is_some_and(|c| c.is_ascii_digit());

    // Phone numbers: a mobile number (11 digits from 13..19), a fixed line `0xx(x)-xxxxxxx(x)`.
    if run.len() == 11 && run.starts_with('1') && run.as_bytes()[1] >= b'3' {
        out.push_str(&digit_by_digit(&run));
        return digits_end;
    }
    if run.starts_with('0') && (3..=4).contains(&run.len()) && next == Some('-') && digit_after(1) {
        let line_end = (digits_end + 1..chars.len())
            .find(|&j| !chars[j].is_ascii_digit())
            .unwrap_or(chars.len());
        if (7..=8).contains(&(line_end - digits_end - 1)) {
            let line: String = chars[digits_end + 1..line_end].iter().collect();
            out.push_str(&digit_by_digit(&run));
            out.push_str(&digit_by_digit(&line));
            return line_end;
        }
    }
    // Years: digit by digit before 年 (`2026年` -> 二零二六年).
    if (run.len() == 4 || run.len() == 2) && next == Some('年') {
        out.push_str(&digit_by_digit(&run));
        return digits_end;
    }
    // Times: `15:30`, `9:05:10`.
    if run.len() <= 2 && next == Some(':') && digit_after(1) && digit_after(2) && !digit_after(3) {
        let hour = &run;
        let minute: String = chars[digits_end + 1..digits_end + 3].iter().collect();
        out.push_str(&cardinal(hour));
        out.push('点');
        let mut end = digits_end + 3;
        let seconds = chars.get(end) == Some(&':')
            && chars.get(end + 1).is_some_and(char::is_ascii_digit)
            && chars.get(end + 2).is_some_and(char::is_ascii_digit);
        if minute != "00" || seconds {
            out.push_str(&clock_part(&minute));
            out.push('分');
        }
        if seconds {
            let second: String = chars[end + 1..end + 3].iter().collect();
            out.push_str(&clock_part(&second));
            out.push('秒');
            end += 3;
        }
        return end;
    }
    // Fractions: `3/4` -> 四分之三 (not dates like `1/31/2026`, which have a second slash).
    if next == Some('/') && digit_after(1) {
        let den_end = (digits_end + 1..chars.len())
            .find(|&j| !chars[j].is_ascii_digit())
            .unwrap_or(chars.len());
        if chars.get(den_end) != Some(&'/') {
            let den: String = chars[digits_end + 1..den_end].iter().collect();
            out.push_str(&cardinal(&den));
            out.push_str("分之");
            out.push_str(&cardinal(&run));
            return den_end;
        }
    }
    let number = Number::scan(chars, start);
    let spoken = if number.frac.is_empty()
        && number.int.len() > 1
        && (number.int.starts_with('0') || number.int.len() > 16)
    {
        // Codes (`007`) and numbers too long to count: digit by digit.
        digit_by_digit(&number.int)
    } else {
        cardinal_or_decimal(&number.int, &number.frac)
    };
    // Percentages: `45%` -> 百分之四十五.
    if chars.get(number.end) == Some(&'%') {
        out.push_str("百分之");
        out.push_str(&spoken);
        return number.end + 1;
    }
    out.push_str(&spoken);
    // Units written in Latin letters or signs, right after the number (`5km`, `3.5 ℃`).
    let unit_start = if chars.get(number.end) == Some(&' ') {
        number.end + 1
    } else {
        number.end
    };
    for (written, said) in UNITS {
        let w: Vec<char> = written.chars().collect();
        let fits = chars.len() >= unit_start + w.len() && chars[unit_start..][..w.len()] == w[..];
        let ends_word = chars
            .get(unit_start + w.len())
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if fits && ends_word {
            out.push_str(said);
            return unit_start + w.len();
        }
    }
    number.end
}

/// A minute or second of a clock time: `05` -> 零五, `30` -> 三十.
fn clock_part(two_digits: &str) -> String {
    match two_digits.strip_prefix('0') {
        Some(rest) => format!("零{}", digit_by_digit(rest)),
        None => cardinal(two_digits),
    }
}

/// Every digit on its own: `138` -> 一三八.
pub fn digit_by_digit(digits: &str) -> String {
    digits
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| DIGITS[usize::from(b - b'0')])
        .collect()
}

/// A cardinal with an optional decimal part: `12`, `5` -> 十二点五.
fn cardinal_or_decimal(int: &str, frac: &str) -> String {
    let mut s = cardinal(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        s.push('点');
        s.push_str(&digit_by_digit(frac));
    }
    s
}

/// An integer as counted: `1234` -> 一千二百三十四, `10` -> 十, `200` -> 两百, `100005` ->
/// 十万零五. Digits only; at most 16 of them (below 10^16, 万亿 is the largest unit).
pub fn cardinal(digits: &str) -> String {
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return "零".into();
    }
    if digits.len() > 16 {
        return digit_by_digit(digits);
    }
    const GROUP_UNITS: [&str; 4] = ["", "万", "亿", "万亿"];
    let bytes: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    // Groups of four digits from the right: `12345678` -> [1234, 5678].
    let first_len = match bytes.len() % 4 {
        0 => 4,
        n => n,
    };
    let mut groups = vec![&bytes[..first_len]];
    groups.extend(bytes[first_len..].chunks(4));
    let mut out = String::new();
    let mut zero_pending = false;
    let count = groups.len();
    for (g, group) in groups.iter().enumerate() {
        let unit = GROUP_UNITS[count - 1 - g];
        if group.iter().all(|&d| d == 0) {
            zero_pending = !out.is_empty();
            continue;
        }
        // A group below 1000 after a higher one starts with 零 (一万零五百).
        if zero_pending || (!out.is_empty() && group.len() == 4 && group[0] == 0) {
            out.push('零');
        }
        out.push_str(&four_digits(group));
        out.push_str(unit);
        zero_pending = false;
    }
    // 10..19 at the head: 十五, not 一十五.
    if let Some(rest) = out.strip_prefix("一十") {
        out = format!("十{rest}");
    }
    // 2 before 百 千 万 亿 at the head: 两百, 两千, 两万.
    let mut head = out.chars();
    if head.next() == Some('二') && matches!(head.next(), Some('百' | '千' | '万' | '亿')) {
        out.replace_range(..'二'.len_utf8(), "两");
    }
    out
}

/// Up to four digits with 千 百 十, zeros inside read once: `1005` -> 一千零五.
fn four_digits(group: &[u8]) -> String {
    const UNITS: [&str; 4] = ["千", "百", "十", ""];
    let units = &UNITS[4 - group.len()..];
    let mut out = String::new();
    let mut zero = false;
    let last_nonzero = group.iter().rposition(|&d| d != 0).unwrap_or(0);
    for (i, (&d, unit)) in group.iter().zip(units).enumerate() {
        if i > last_nonzero {
            break;
        }
        if d == 0 {
            zero = !out.is_empty();
            continue;
        }
        if zero {
            out.push('零');
            zero = false;
        }
        out.push(DIGITS[usize::from(d)]);
        out.push_str(unit);
    }
    out
}

#[cfg(test)]
mod map_tests {
    use super::*;

    #[test]
    fn normalized_text_maps_back_to_its_source() {
        let text = "订单于2026年发货，价格¥12.5。";
        let (out, map) = normalize_mapped(text);
        let find = |s: &str| {
            let at = out.find(s).unwrap();
            source_of(&map, at..at + s.len()).map(|r| &text[r])
        };
        assert_eq!(find("订单"), Some("订单"));
        assert_eq!(find("二零二六"), Some("2026"));
        assert_eq!(find("年"), Some("年"));
        assert_eq!(find("十二点五元"), Some("¥12.5"));
        assert_eq!(normalize(text), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cardinals_read_as_counted() {
        for (n, said) in [
            ("0", "零"),
            ("7", "七"),
            ("10", "十"),
            ("15", "十五"),
            ("20", "二十"),
            ("110", "一百一十"),
            ("200", "两百"),
            ("1005", "一千零五"),
            ("1234", "一千二百三十四"),
            ("2026", "两千零二十六"),
            ("10000", "一万"),
            ("100005", "十万零五"),
            ("12345678", "一千二百三十四万五千六百七十八"),
            ("100000000", "一亿"),
            ("300050000", "三亿零五万"),
            ("1000500", "一百万零五百"),
        ] {
            assert_eq!(cardinal(n), said, "{n}");
        }
    }

    #[test]
    fn numbers_in_context() {
        for (written, said) in [
            ("我有3个苹果。", "我有三个苹果。"),
            ("价格是12.5元。", "价格是十二点五元。"),
            ("增长了45%。", "增长了百分之四十五。"),
            ("2026年1月31日", "二零二六年一月三十一日"),
            ("下午3点30分", "下午三点三十分"),
            ("15:05出发", "十五点零五分出发"),
            ("零下3.5℃", "零下三点五摄氏度"),
            ("电话是13800138000。", "电话是一三八零零一三八零零零。"),
            ("拨打010-62345678", "拨打零一零六二三四五六七八"),
            ("3/4的人", "四分之三的人"),
            ("气温-5度", "气温负五度"),
            ("¥199", "一百九十九元"),
            ("跑了5km", "跑了五公里"),
            ("共1,234,567人", "共一百二十三万四千五百六十七人"),
            ("１２％", "百分之十二"),
            ("编号007", "编号零零七"),
        ] {
            assert_eq!(normalize(written), said, "{written}");
        }
    }
}
