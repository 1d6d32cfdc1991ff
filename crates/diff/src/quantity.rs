//! Resource quantities (`"500m"`, `"1Gi"`, `"0.5"`), read exactly and written
//! in one canonical spelling, so that spellings of one amount compare equal.
//!
//! The canonical form follows the API server's rule of thumb: a binary
//! quantity (`Ki`…`Ei`) stays binary when the amount is a whole number of
//! one of those units; everything else is written with the largest decimal
//! SI suffix that keeps the number whole (`1500m`, `1k`, `129M`).
//! Differences from Kubernetes, on purpose: amounts are never rounded (an
//! amount finer than `1n` keeps its original spelling), and exponent
//! spellings (`1e3`) are written with SI suffixes.

#[cfg(test)]
mod tests;

/// An exact decimal amount: `mantissa × 10^exponent`, with no trailing
/// zeros in the mantissa (so equal amounts have equal representations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Amount {
    mantissa: i128,
    exponent: i32,
}

/// Whether a spelling used a binary suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Binary,
    Decimal,
}

const BINARY: [(&str, u32); 6] = [("Ki", 1), ("Mi", 2), ("Gi", 3), ("Ti", 4), ("Pi", 5), ("Ei", 6)];
const DECIMAL: [(&str, i32); 10] =
    [("n", -9), ("u", -6), ("m", -3), ("", 0), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18)];

impl Amount {
    fn new(mantissa: i128, exponent: i32) -> Amount {
        let (mut mantissa, mut exponent) = (mantissa, exponent);
        if mantissa == 0 {
            return Amount { mantissa: 0, exponent: 0 };
        }
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        Amount { mantissa, exponent }
    }

    /// The amount as a whole number, when it is one and fits.
    fn whole(self) -> Option<i128> {
        if self.exponent < 0 {
            return None;
        }
        10i128.checked_pow(u32::try_from(self.exponent).ok()?).and_then(|p| self.mantissa.checked_mul(p))
    }
}

/// Reads a quantity: an optional sign, a decimal number, and an optional
/// binary suffix, SI suffix or exponent. `None` when it is not one, or too
/// large to hold exactly.
pub(crate) fn parse(text: &str) -> Option<Amount> {
    parse_with_family(text).map(|(a, _)| a)
}

fn parse_with_family(text: &str) -> Option<(Amount, Family)> {
    let (negative, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let mut mantissa: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    if digits.len() > 30 {
        return None;
    }
    let mut exponent = -i32::try_from(frac_part.len()).ok()?;
    let mut family = Family::Decimal;
    if let Some((_, power)) = BINARY.iter().find(|(s, _)| *s == suffix) {
        mantissa = mantissa.checked_mul(1024i128.checked_pow(*power)?)?;
        family = Family::Binary;
    } else if let Some((_, e)) = DECIMAL.iter().find(|(s, _)| *s == suffix) {
        exponent += e;
    } else if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
        exponent += exp.parse::<i32>().ok().filter(|e| e.abs() <= 40)?;
    } else {
        return None;
    }
    if negative {
        mantissa = -mantissa;
    }
    Some((Amount::new(mantissa, exponent), family))
}

/// The canonical spelling of a quantity, or `None` when `text` is not one
/// (or cannot be written exactly).
pub(crate) fn canonical(text: &str) -> Option<String> {
    let (amount, family) = parse_with_family(text)?;
    if amount.mantissa == 0 {
        return Some("0".to_owned());
    }
    if family == Family::Binary
        && let Some(whole) = amount.whole()
    {
        for (suffix, power) in BINARY.iter().rev() {
            let unit = 1024i128.checked_pow(*power)?;
            if whole % unit == 0 {
                return Some(format!("{}{suffix}", whole / unit));
            }
        }
    }
    // The largest multiple of three at or below the exponent, within the SI range.
    let scale = (amount.exponent.div_euclid(3) * 3).clamp(-9, 18);
    if amount.exponent < scale {
        return None;
    }
    let factor = 10i128.checked_pow(u32::try_from(amount.exponent - scale).ok()?)?;
    let mantissa = amount.mantissa.checked_mul(factor)?;
    let suffix = DECIMAL.iter().find(|(_, e)| *e == scale).map(|(s, _)| *s)?;
    Some(format!("{mantissa}{suffix}"))
}
