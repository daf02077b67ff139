//! English numbers in words, as num2words 0.5 writes them for misaki (cardinals, ordinals,
//! years, decimals), without the `and` and hyphens misaki drops anyway.

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const SCALES: [(u64, &str); 6] = [
    (1_000_000_000_000_000_000, "quintillion"),
    (1_000_000_000_000_000, "quadrillion"),
    (1_000_000_000_000, "trillion"),
    (1_000_000_000, "billion"),
    (1_000_000, "million"),
    (1_000, "thousand"),
];

/// `n` in words: 1234 -> one thousand two hundred thirty four.
pub fn cardinal(n: u64) -> Vec<&'static str> {
    let mut words = Vec::new();
    push_cardinal(n, &mut words);
    words
}

fn push_cardinal(mut n: u64, words: &mut Vec<&'static str>) {
    if n < 20 {
        words.push(ONES[n as usize]);
        return;
    }
    for (scale, name) in SCALES {
        if n >= scale {
            push_cardinal(n / scale, words);
            words.push(name);
            n %= scale;
            if n == 0 {
                return;
            }
        }
    }
    if n >= 100 {
        words.push(ONES[(n / 100) as usize]);
        words.push("hundred");
        n %= 100;
        if n == 0 {
            return;
        }
    }
    if n >= 20 {
        words.push(TENS[(n / 10) as usize]);
        if !n.is_multiple_of(10) {
            words.push(ONES[(n % 10) as usize]);
        }
    } else {
        words.push(ONES[n as usize]);
    }
}

/// `n` as an ordinal: 21 -> twenty first.
pub fn ordinal(n: u64) -> Vec<String> {
    let mut words: Vec<String> = cardinal(n).into_iter().map(str::to_owned).collect();
    if let Some(last) = words.last_mut() {
        *last = match last.as_str() {
            "one" => "first".into(),
            "two" => "second".into(),
            "three" => "third".into(),
            "five" => "fifth".into(),
            "eight" => "eighth".into(),
            "nine" => "ninth".into(),
            "twelve" => "twelfth".into(),
            w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
            w => format!("{w}th"),
        };
    }
    words
}

/// `n` read as a year: 1984 -> nineteen eighty four, 1905 -> nineteen oh five, 2000 -> two
/// thousand (num2words' `to_year`).
pub fn year(n: u64) -> Vec<&'static str> {
    let (high, low) = (n / 100, n % 100);
    if high == 0 || (high % 10 == 0 && low < 10) || high >= 100 {
        return cardinal(n);
    }
    let mut words = cardinal(high);
    match low {
        0 => words.push("hundred"),
        1..=9 => {
            words.push("oh");
            words.extend(cardinal(low));
        }
        _ => words.extend(cardinal(low)),
    }
    words
}

/// A decimal as num2words reads a float: 3.14 -> three point one four (trailing zeros of the
/// fraction dropped, as Python's float drops them).
pub fn decimal(whole: u64, fraction: &str) -> Vec<&'static str> {
    let mut words = cardinal(whole);
    let fraction = fraction.trim_end_matches('0');
    let fraction = if fraction.is_empty() { "0" } else { fraction };
    words.push("point");
    for d in fraction.chars().filter_map(|c| c.to_digit(10)) {
        words.push(ONES[d as usize]);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_num2words_reads_them() {
        assert_eq!(cardinal(0), ["zero"]);
        assert_eq!(cardinal(112).join(" "), "one hundred twelve");
        assert_eq!(
            cardinal(1234).join(" "),
            "one thousand two hundred thirty four"
        );
        assert_eq!(cardinal(2_000_005).join(" "), "two million five");
        assert_eq!(ordinal(3).join(" "), "third");
        assert_eq!(ordinal(21).join(" "), "twenty first");
        assert_eq!(ordinal(40).join(" "), "fortieth");
        assert_eq!(year(2024).join(" "), "twenty twenty four");
        assert_eq!(year(1905).join(" "), "nineteen oh five");
        assert_eq!(year(1900).join(" "), "nineteen hundred");
        assert_eq!(year(2005).join(" "), "two thousand five");
        assert_eq!(decimal(3, "50").join(" "), "three point five");
        assert_eq!(decimal(3, "14").join(" "), "three point one four");
    }
}
