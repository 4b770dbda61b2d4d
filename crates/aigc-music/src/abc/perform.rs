//! Performance order: repeats and first/second endings played out into one flat event list.


use super::*;
// ---------------------------------------------------------------------------------------------
// Performance order

/// Highest ending number from `from` to the end of the section (a section bar or repeat start).
pub(super) fn max_ending_ahead(items: &[Item], from: usize) -> u32 {
    let mut max = 0;
    for item in items.iter().skip(from) {
        match item {
            Item::RepeatStart | Item::Bar { section: true } => break,
            Item::Ending(mask) if *mask != 0 => max = max.max(31 - mask.leading_zeros()),
            _ => {}
        }
    }
    max
}

/// Plays out repeats and endings, merges ties and drops redundant bar lines.
pub(super) fn perform(items: &[Item]) -> Result<Vec<Event>, String> {
    let too_long = || format!("tune too long (more than {MAX_EVENTS} events with repeats)");
    let mut played: Vec<&Item> = Vec::new();
    let mut jumps = vec![0u32; items.len()];
    let (mut i, mut start, mut pass) = (0usize, 0usize, 1u32);
    let (mut explicit_start, mut in_ending, mut skipping) = (false, false, false);
    let mut steps = 0usize;
    while let Some(item) = items.get(i) {
        steps += 1;
        if steps > 4 * MAX_EVENTS || played.len() > MAX_EVENTS {
            return Err(too_long());
        }
        match item {
            Item::Note { .. } | Item::Rest { .. } => {
                if !skipping {
                    played.push(item);
                }
            }
            Item::Bar { section } => {
                if skipping && !section {
                    i += 1;
                    continue;
                }
                skipping = false;
                played.push(item);
                if *section {
                    if pass > 1 || in_ending {
                        pass = 1;
                        start = i + 1;
                        explicit_start = false;
                        in_ending = false;
                    } else if !explicit_start {
                        start = i + 1;
                    }
                }
            }
            Item::RepeatStart => {
                skipping = false;
                in_ending = false;
                pass = 1;
                start = i + 1;
                explicit_start = true;
            }
            Item::Ending(mask) => {
                in_ending = true;
                skipping = pass > 31 || mask & (1u32 << pass) == 0;
            }
            Item::RepeatEnd => {
                if skipping {
                    // The end of an ending that is not played on this pass.
                    skipping = false;
                    i += 1;
                    continue;
                }
                let jump = if in_ending {
                    // Without later endings, a first ending is still played once.
                    pass < max_ending_ahead(items, i + 1).max(2)
                } else {
                    jumps.get(i).is_some_and(|&j| j == 0)
                };
                if jump && start <= i {
                    if let Some(j) = jumps.get_mut(i) {
                        *j += 1;
                    }
                    pass += 1;
                    in_ending = false;
                    i = start;
                    continue;
                }
                pass = 1;
                start = i + 1;
                explicit_start = false;
                in_ending = false;
            }
        }
        i += 1;
    }

    // Ties in performed order, then bar lines: none first, none twice in a row.
    let mut events: Vec<Event> = Vec::with_capacity(played.len());
    let mut open_tie: Option<usize> = None;
    for item in played {
        match item {
            Item::Note { pitch, dur, tie } => {
                let merged = match open_tie.and_then(|k| events.get_mut(k)) {
                    Some(Event::Note { pitch: p, dur: d }) if p == pitch => {
                        *d = d.checked_add(*dur).ok_or_else(|| "duration overflow".to_string())?;
                        true
                    }
                    _ => false,
                };
                if merged {
                    if !*tie {
                        open_tie = None;
                    }
                    continue;
                }
                events.push(Event::Note { pitch: *pitch, dur: *dur });
                open_tie = if *tie { Some(events.len() - 1) } else { None };
            }
            Item::Rest { dur } => {
                events.push(Event::Rest { dur: *dur });
                open_tie = None;
            }
            Item::Bar { .. } if !matches!(events.last(), None | Some(Event::Bar)) => events.push(Event::Bar),
            _ => {}
        }
    }
    Ok(events)
}

