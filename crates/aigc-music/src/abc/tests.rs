use super::testing::*;
use super::*;

/// Parses a body with the given header lines after X:1.
fn tune(header: &str, body: &str) -> Tune {
    let text = format!("X:1\n{header}\n{body}\n");
    parse_tune(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Events of a body in L:1/8, M:4/4, K:C.
fn ev(body: &str) -> Vec<Event> {
    tune("M:4/4\nL:1/8\nK:C", body).events
}

fn pitches(body: &str) -> Vec<u8> {
    ev(body)
        .iter()
        .filter_map(|e| match e {
            Event::Note { pitch, .. } => Some(*pitch),
            _ => None,
        })
        .collect()
}

fn err(text: &str) -> AbcError {
    match parse_tune(text) {
        Ok(t) => panic!("expected an error, got {t:?}"),
        Err(e) => e,
    }
}

fn round_trip(t: &Tune) {
    let text = write_abc(t);
    let back = parse_tune(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back.events, t.events, "{text}");
    assert_eq!(back.number, t.number);
    assert_eq!(back.meter, t.meter);
    assert_eq!(back.unit, t.unit);
    assert_eq!(back.key.signature(), t.key.signature());
}

#[test]
fn rational_arithmetic() {
    assert_eq!(r(2, 4), Rational { num: 1, den: 2 });
    assert_eq!(r(3, -6), Rational { num: -1, den: 2 });
    assert_eq!(Rational::new(1, 0), None);
    assert_eq!(r(1, 2).checked_add(r(1, 3)), Some(r(5, 6)));
    assert_eq!(r(1, 2).checked_mul(r(2, 3)), Some(r(1, 3)));
    assert_eq!(r(1, 2).checked_div(Rational::ZERO), None);
    assert_eq!(r(i64::MAX, 1).checked_add(r(1, 1)), None);
    assert!(r(1, 3) < r(1, 2));
    assert_eq!(r(3, 8).to_string(), "3/8");
    assert_eq!(Rational::integer(2).to_string(), "2");
}

#[test]
fn header_fields() {
    let t = tune("T:The Tune\nT:Other title\nM:6/8\nL:1/8\nQ:3/8=60\nR:jig\nK:Em", "EFG ABc|");
    assert_eq!(t.number, 1);
    assert_eq!(t.title, "The Tune");
    assert_eq!(t.meter, Some(Meter { num: 6, den: 8 }));
    assert_eq!(t.unit, r(1, 8));
    assert_eq!(t.key, Key { tonic_pc: 4, mode: Mode::Minor });
    assert_eq!(t.tempo_qpm, Some(90.0));
    assert_eq!(tune("Q:1/4=120\nK:C", "C").tempo_qpm, Some(120.0));
    assert_eq!(tune("Q:\"Allegro\" 1/2=60\nK:C", "C").tempo_qpm, Some(120.0));
    assert_eq!(tune("L:1/8\nQ:200\nK:C", "C").tempo_qpm, Some(100.0));
    assert_eq!(tune("Q:Allegro\nK:C", "C").tempo_qpm, None);
    assert_eq!(tune("K:C", "C").tempo_qpm, None);
    // Comments and other fields in the header; X: with spaces.
    let t = parse_tune("%comment\nX: 12\n% a remark\nN:note\nZ:someone\nK:G % key\nG").unwrap();
    assert_eq!(t.number, 12);
    assert_eq!(t.key, Key { tonic_pc: 7, mode: Mode::Major });
}

#[test]
fn meters_and_default_unit() {
    assert_eq!(tune("M:C\nK:C", "C").meter, Some(Meter { num: 4, den: 4 }));
    assert_eq!(tune("M:C|\nK:C", "C").meter, Some(Meter { num: 2, den: 2 }));
    assert_eq!(tune("M:none\nK:C", "C").meter, None);
    assert_eq!(tune("M:(2+3)/8\nK:C", "C").meter, Some(Meter { num: 5, den: 8 }));
    assert_eq!(tune("M:2/4\nK:C", "C").unit, r(1, 16));
    assert_eq!(tune("M:3/8\nK:C", "C").unit, r(1, 16));
    assert_eq!(tune("M:3/4\nK:C", "C").unit, r(1, 8));
    assert_eq!(tune("M:6/8\nK:C", "C").unit, r(1, 8));
    assert_eq!(tune("M:none\nK:C", "C").unit, r(1, 8));
    assert_eq!(tune("K:C", "C").unit, r(1, 8));
    assert_eq!(tune("M:2/4\nL:1/4\nK:C", "C").unit, r(1, 4));
    assert_eq!(tune("M:2/4\nK:C", "C2").events, vec![note(60, 1, 8)]);
}

#[test]
fn pitches_and_octaves() {
    assert_eq!(
        pitches("C D E F G A B c d e f g a b"),
        vec![60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79, 81, 83]
    );
    assert_eq!(pitches("C, C,, c' c'' B,"), vec![48, 36, 84, 96, 59]);
    assert_eq!(pitches("^C | _B | ^^C | __D | =C"), vec![61, 70, 62, 60, 60]);
}

#[test]
fn key_signatures_and_modes() {
    let p = |k: &str, body: &str| tune(&format!("L:1/8\nK:{k}"), body).events;
    let ps = |k: &str| -> Vec<u8> {
        p(k, "C D E F G A B")
            .iter()
            .filter_map(|e| if let Event::Note { pitch, .. } = e { Some(*pitch) } else { None })
            .collect()
    };
    assert_eq!(ps("G"), vec![60, 62, 64, 66, 67, 69, 71]);
    assert_eq!(ps("F"), vec![60, 62, 64, 65, 67, 69, 70]);
    assert_eq!(ps("D"), vec![61, 62, 64, 66, 67, 69, 71]);
    assert_eq!(ps("Bb"), vec![60, 62, 63, 65, 67, 69, 70]);
    assert_eq!(ps("F#m"), vec![61, 62, 64, 66, 68, 69, 71]);
    assert_eq!(ps("Em"), ps("G"));
    assert_eq!(ps("E minor"), ps("G"));
    assert_eq!(ps("Eaeo"), ps("G"));
    assert_eq!(ps("Gion"), ps("G"));
    assert_eq!(ps("Gmaj"), ps("G"));
    assert_eq!(ps("Ador"), ps("G"));
    assert_eq!(ps("ADor"), ps("G"));
    assert_eq!(ps("Dmix"), ps("G"));
    assert_eq!(ps("D Mixolydian"), ps("G"));
    assert_eq!(ps("Bphr"), ps("G"));
    assert_eq!(ps("Clyd"), ps("G"));
    assert_eq!(ps("F#loc"), ps("G"));
    assert_eq!(ps("none"), ps("C"));
    assert_eq!(ps("HP"), ps("Hp"));
    assert_eq!(ps("HP"), vec![61, 62, 64, 66, 67, 69, 71]);
    assert_eq!(ps("G clef=bass"), ps("G"));
    assert_eq!(ps("D =c"), ps("G")); // explicit accidental in K:
    assert_eq!(ps("C exp ^f"), ps("G"));
    assert_eq!(tune("K:HP", "A").key, Key { tonic_pc: 9, mode: Mode::Mixolydian });
    assert_eq!(tune("K:none", "A").key.mode, Mode::NoSignature);
    assert_eq!(tune("K:Gm", "A").key, Key { tonic_pc: 7, mode: Mode::Minor });
    assert_eq!(tune("K:AMix", "A").key, Key { tonic_pc: 9, mode: Mode::Mixolydian });
    assert_eq!(Key { tonic_pc: 6, mode: Mode::Minor }.abc_name(), "F#m");
    assert_eq!(Key { tonic_pc: 10, mode: Mode::Major }.abc_name(), "Bb");
    assert_eq!(Key { tonic_pc: 2, mode: Mode::Dorian }.abc_name(), "Ddor");
    assert_eq!(Key { tonic_pc: 2, mode: Mode::Dorian }.sharps(), 0);
    // Natural sign in the key of G; the key signature applies in every octave.
    assert_eq!(tune("K:G", "=F f F,").events, vec![note(65, 1, 8), note(78, 1, 8), note(54, 1, 8)]);
}

#[test]
fn accidentals_last_to_the_end_of_the_bar() {
    assert_eq!(pitches("^F F f | F"), vec![66, 66, 77, 65]);
    assert_eq!(tune("K:G", "=F F ^F F | F").events.len(), 6);
    let ps: Vec<u8> = tune("K:G", "=F F | F")
        .events
        .iter()
        .filter_map(|e| if let Event::Note { pitch, .. } = e { Some(*pitch) } else { None })
        .collect();
    assert_eq!(ps, vec![65, 65, 66]);
    // Inside chords too.
    assert_eq!(pitches("[^FA] F"), vec![69, 66]);
}

#[test]
fn lengths() {
    assert_eq!(
        ev("A A2 A/2 A/ A// A3/2 A3 A/4 A3//"),
        vec![
            note(69, 1, 8),
            note(69, 1, 4),
            note(69, 1, 16),
            note(69, 1, 16),
            note(69, 1, 32),
            note(69, 3, 16),
            note(69, 3, 8),
            note(69, 1, 32),
            note(69, 3, 32),
        ]
    );
    assert_eq!(tune("L:1/4\nK:C", "c2").events, vec![note(72, 1, 2)]);
}

#[test]
fn rests() {
    assert_eq!(ev("z A x2 z/"), vec![rest(1, 8), note(69, 1, 8), rest(1, 4), rest(1, 16)]);
    assert_eq!(tune("M:3/4\nK:C", "Z2 | C").events, vec![rest(3, 2), BAR, note(60, 1, 8)]);
    assert_eq!(tune("M:3/4\nK:C", "C | Z |").events, vec![note(60, 1, 8), BAR, rest(3, 4), BAR]);
}

#[test]
fn ties() {
    assert_eq!(ev("A2-A2 B"), vec![note(69, 1, 2), note(71, 1, 8)]);
    assert_eq!(ev("A2 - A2"), vec![note(69, 1, 2)]);
    // Over a bar line: one note, then the bar.
    assert_eq!(ev("c4 A4- | A2 B6 |"), vec![note(72, 1, 2), note(69, 3, 4), BAR, note(71, 3, 4), BAR]);
    // A tie between different pitches is no tie.
    assert_eq!(ev("G3-A"), vec![note(67, 3, 8), note(69, 1, 8)]);
    // A tied note keeps its accidental over the bar line, but the bar's accidental ends.
    assert_eq!(ev("^c2-|c2 c"), vec![note(73, 1, 2), BAR, note(72, 1, 8)]);
    // Chained ties and chords.
    assert_eq!(ev("A-A-A"), vec![note(69, 3, 8)]);
    assert_eq!(ev("[CEG]2-[CEG]2"), vec![note(67, 1, 2)]);
    // A dangling tie at the end is ignored.
    assert_eq!(ev("A-"), vec![note(69, 1, 8)]);
}

#[test]
fn bar_lines() {
    let want = vec![note(60, 1, 8), BAR, note(62, 1, 8), BAR, note(64, 1, 8), BAR, note(65, 1, 8), BAR];
    assert_eq!(ev("C | D || E |] F |"), want);
    assert_eq!(ev("|C | D [| E || F |]"), want);
    // No bar first, none twice in a row, across lines too; dotted bar.
    assert_eq!(ev("| C |\n| D .| E | F ||"), want);
}

#[test]
fn repeats() {
    let (a, b, c, d) = (note(69, 1, 8), note(71, 1, 8), note(72, 1, 8), note(74, 1, 8));
    assert_eq!(ev("|: A B :| c d |]"), vec![a, b, BAR, a, b, BAR, c, d, BAR]);
    // Repeat from the start of the tune, and from the last repeat.
    assert_eq!(ev("A :| B :|"), vec![a, BAR, a, BAR, b, BAR, b, BAR]);
    assert_eq!(ev("A | B :: c :|"), vec![a, BAR, b, BAR, a, BAR, b, BAR, c, BAR, c, BAR]);
    assert_eq!(ev("|: A :|: B :|"), vec![a, BAR, a, BAR, b, BAR, b, BAR]);
    // First and second endings, in both spellings.
    let want = vec![a, BAR, b, BAR, a, BAR, c, BAR, d, BAR];
    assert_eq!(ev("|: A |1 B :|2 c || d |]"), want);
    assert_eq!(ev("|: A | [1 B :| [2 c || d |]"), want);
    assert_eq!(ev("|: A |[1 B :|[2 c |] d |]"), want);
    // An ending of several bars; a second ending that runs into the next part.
    assert_eq!(
        ev("|: A |1 B | B :|2 c |: d :|"),
        vec![a, BAR, b, BAR, b, BAR, a, BAR, c, BAR, d, BAR, d, BAR]
    );
    // Three endings.
    assert_eq!(ev("|: A |1 B :|2 c :|3 d |]"), vec![a, BAR, b, BAR, a, BAR, c, BAR, a, BAR, d, BAR]);
    assert_eq!(ev("|: A |1,2 B :|3 c |]"), vec![a, BAR, b, BAR, a, BAR, b, BAR, a, BAR, c, BAR]);
    // A first ending without a second one.
    assert_eq!(ev("|: A |1 B :| c |]"), vec![a, BAR, b, BAR, a, BAR, c, BAR]);
    // A pickup before the repeat.
    assert_eq!(ev("d |: A :|"), vec![d, BAR, a, BAR, a, BAR]);
    // A tie into the repeat start is followed in playing order.
    assert_eq!(ev("|: A B- :| B c |]"), vec![a, note(71, 1, 8), BAR, a, note(71, 1, 4), BAR, c, BAR]);
}

#[test]
fn tuplets() {
    assert_eq!(ev("(3ABc d"), vec![note(69, 1, 12), note(71, 1, 12), note(72, 1, 12), note(74, 1, 8)]);
    assert_eq!(ev("(3A2B2c2"), vec![note(69, 1, 6), note(71, 1, 6), note(72, 1, 6)]);
    assert_eq!(ev("(3:2:2A B c"), vec![note(69, 1, 12), note(71, 1, 12), note(72, 1, 8)]);
    assert_eq!(ev("(3zB[ce]"), vec![rest(1, 12), note(71, 1, 12), note(76, 1, 12)]);
    assert_eq!(ev("(2AB"), vec![note(69, 3, 16), note(71, 3, 16)]);
    // (5 is 5 in the time of 2 in simple meters, of 3 in compound meters.
    let t = tune("M:6/8\nL:1/8\nK:C", "(5ABcde");
    assert_eq!(t.events[0], note(69, 3, 40));
    assert_eq!(ev("(5ABcde")[0], note(69, 1, 20));
    // A slur around a tuplet and inside it.
    assert_eq!(
        ev("((3A(BA)) B"),
        vec![note(69, 1, 12), note(71, 1, 12), note(69, 1, 12), note(71, 1, 8)]
    );
}

#[test]
fn broken_rhythm() {
    assert_eq!(ev("A>B"), vec![note(69, 3, 16), note(71, 1, 16)]);
    assert_eq!(ev("A<B"), vec![note(69, 1, 16), note(71, 3, 16)]);
    assert_eq!(ev("A>>B"), vec![note(69, 7, 32), note(71, 1, 32)]);
    assert_eq!(ev("A2<<B2"), vec![note(69, 1, 16), note(71, 7, 16)]);
    assert_eq!(ev("A > B"), vec![note(69, 3, 16), note(71, 1, 16)]);
    assert_eq!(ev("A>~B"), vec![note(69, 3, 16), note(71, 1, 16)]);
    assert_eq!(ev("[CE]>[DF]"), vec![note(64, 3, 16), note(65, 1, 16)]);
}

#[test]
fn chords() {
    assert_eq!(ev("[CEG]2 [G,CE]"), vec![note(67, 1, 4), note(64, 1, 8)]);
    assert_eq!(ev("[C2E2] [c/e/]3"), vec![note(64, 1, 4), note(76, 3, 16)]);
    assert_eq!(ev("[^FA]"), vec![note(69, 1, 8)]);
    assert_eq!(ev("[ag]"), vec![note(81, 1, 8)]);
    // abc 1.6 chords `+..+`.
    assert_eq!(ev("+E3A3+ c"), vec![note(69, 3, 8), note(72, 1, 8)]);
}

#[test]
fn ornaments_are_skipped() {
    let want = vec![note(69, 1, 8), note(71, 1, 8), note(72, 1, 4)];
    assert_eq!(ev("{g}A {ag}B {/a}c2"), want);
    assert_eq!(ev("!trill!A +fermata+B !>!c2"), want);
    assert_eq!(ev("~A .B Hc2"), want);
    assert_eq!(ev("TA uB vLMOPSc2"), want);
    assert_eq!(ev("\"Am\"A \"^text\"B \"G7\"c2"), want);
    assert_eq!(ev("(AB) (c2)"), want);
    assert_eq!(ev("A B !D.C.! c2 !"), want);
    assert_eq!(ev("A`B c2 y"), want);
}

#[test]
fn inline_fields() {
    assert_eq!(pitches("F [K:G] F | [K:Bb] B"), vec![65, 66, 70]);
    assert_eq!(ev("A [L:1/16] A [L:1/4] A"), vec![note(69, 1, 8), note(69, 1, 16), note(69, 1, 4)]);
    assert_eq!(tune("M:4/4\nK:C", "C [M:3/4] Z").events, vec![note(60, 1, 8), rest(3, 4)]);
    assert_eq!(ev("A [P:B] [I:whatever] [r:remark] B"), vec![note(69, 1, 8), note(71, 1, 8)]);
    // Field lines in the body.
    assert_eq!(
        tune("L:1/8\nK:C", "A\nL:1/4\nA\nK:G\nF\nM:3/4\nw: la la\nW: words").events,
        vec![note(69, 1, 8), note(69, 1, 4), note(66, 1, 4)]
    );
    // A single voice is fine.
    assert_eq!(tune("V:1\nK:C", "V:1\nC").events, vec![note(60, 1, 8)]);
}

#[test]
fn continuation_and_comments() {
    assert_eq!(
        ev("A B \\\nc d % comment | ^^^\n%%directive\n% c d e\ne"),
        vec![note(69, 1, 8), note(71, 1, 8), note(72, 1, 8), note(74, 1, 8), note(76, 1, 8)]
    );
    // The tune ends at an empty line.
    assert_eq!(ev("A B\n\nc d"), vec![note(69, 1, 8), note(71, 1, 8)]);
}

#[test]
fn malformed_inputs_give_errors() {
    let e = err("X:1\nT:no key\nM:4/4\nABC");
    assert!(e.message.contains("missing K:"), "{e}");
    assert_eq!(e.line, 4);
    assert!(err("X:1\nT:no key\nM:4/4").message.contains("missing K:"));
    assert!(err("T:t\nK:C\nABC").message.contains("missing X:"));
    assert!(err("").message.contains("no X:"));
    assert!(err("X:abc\nK:C\nA").message.contains("bad X:"));
    assert!(err("X:1\nK:C\nA#B").message.contains("unexpected character `#`"));
    assert!(err("X:1\nK:C\nA ^ B").message.contains("bad note"));
    assert!(err("X:1\nK:C\nA ^").message.contains("bad note"));
    assert!(err("X:1\nK:C\nA/0").message.contains("zero denominator"));
    assert!(err("X:1\nK:C\nA0").message.contains("zero note length"));
    assert!(err("X:1\nK:C\nA999999").message.contains("absurd"));
    assert!(err("X:1\nK:C\nA/99999").message.contains("absurd"));
    assert!(err("X:1\nK:C\nA////////////////").message.contains("absurd"));
    assert!(err("X:1\nK:C\nZ99999").message.contains("absurd"));
    assert!(err("X:1\nL:1/0\nK:C\nA").message.contains("bad unit"));
    assert!(err("X:1\nM:4/0\nK:C\nA").message.contains("meter"));
    assert!(err("X:1\nK:Bn\nA").message.contains("unknown mode"));
    assert!(err("X:1\nK:Q\nA").message.contains("unknown key"));
    assert!(err("X:1\nK:C\nc''''''").message.contains("range"));
    assert!(err("X:1\nK:C\nC,,,,,,,").message.contains("range"));
    // Truncated tunes.
    assert!(err("X:1\nT:t\nM:4/4\nL:1/8\nK:G").message.contains("no notes"));
    assert!(err("X:1\nK:C\nA B [CE").message.contains("unterminated chord"));
    assert!(err("X:1\nK:C\nA B \"Am").message.contains("unterminated"));
    assert!(err("X:1\nK:C\nA B {g").message.contains("unterminated grace"));
    assert!(err("X:1\nK:C\nA B [K:G").message.contains("unterminated inline"));
    assert!(err("X:1\nK:C\nA (3B").message.contains("tuplet"));
    assert!(err("X:1\nK:C\nA B>").message.contains("broken rhythm"));
    assert!(err("X:1\nK:C\nA B>|c").message.contains("broken rhythm"));
    assert!(err("X:1\nK:C\n>A").message.contains("without a preceding note"));
    assert!(err("X:1\nK:C\nZ").message.contains("without a meter"));
    assert!(err("X:1\nK:C\n[]").message.contains("empty chord"));
    assert!(err("X:1\nK:C\nA | : B").message.contains("`:`"));
    assert!(err("X:1\nK:C\nA |99 B").message.contains("ending"));
    assert!(err("X:1\nK:C\nA ^/B").message.contains("microtonal"));
    // Voices.
    let e = err("X:12\nT:t\nK:C\nA B & c d");
    assert_eq!(e.to_string(), "tune X:12, line 4: unsupported construct `&` (voice overlay)");
    assert!(err("X:1\nK:C\nV:1\nA\nV:2\nB").message.contains("several voices"));
}

#[test]
fn collections_report_skips() {
    let text = "% file header\nT:free text\n\nX:1\nT:one\nK:C\nABc|\n\nX:2\nT:two\nK:C\nA B # c\n\
                \nsome text\n\nX:3\nT:three\nK:G\nF|\nX:4\nT:no blank line before\nK:C\nc\n";
    let (tunes, skips) = parse_collection(text);
    assert_eq!(tunes.iter().map(|t| t.number).collect::<Vec<_>>(), vec![1, 3, 4]);
    assert_eq!(tunes[1].title, "three");
    assert_eq!(skips, vec![Skip { number: 2, line: 12, reason: "unexpected character `#`".into() }]);
    assert_eq!(skips[0].to_string(), "tune X:2, line 12: unexpected character `#`");
}

#[test]
fn write_and_read_back() {
    let t = tune(
        "T:Round trip\nM:6/8\nL:1/8\nQ:3/8=100\nK:D",
        "|: A>B c/d/e | ^f=f _B [CEG]2 (3ABc :|\n[1 z2 A,, c''2- | c'' d3 :|2 f2 e |]\n\
         [K:Bb] B E e ^^F __B =B | {g}A2 \"Am\"z4 | Z |",
    );
    round_trip(&t);
    let text = write_abc(&t);
    assert!(text.starts_with("X:1\nT:Round trip\nM:6/8\nL:1/8\nQ:1/4=150\nK:D\n"), "{text}");
    // Out-of-key notes and the natural signs they need.
    let t = tune("L:1/8\nK:F", "B =B B ^A | _B B =B c | F ^F G _G |");
    round_trip(&t);
    let body = write_abc(&t).lines().last().unwrap_or("").to_string();
    assert_eq!(body, "B =B B _B | B B =B c | F _G =G _G |");
    for key in [
        "C", "G", "D", "A", "E", "B", "F#", "C#", "F", "Bb", "Eb", "Ab", "Db", "Gb", "Cb", "Am", "Ebm",
        "Ddor", "Emix", "none", "HP",
    ] {
        let t = tune(
            &format!("M:3/4\nL:1/16\nK:{key}"),
            "C ^C D ^D E F ^F G ^G A ^A B | c _d d _e e f _g g _a a _b b | C,, c'''",
        );
        round_trip(&t);
    }
    // Long tied notes, odd lengths, no meter.
    let t = tune("M:none\nL:1/4\nK:C", "A9999-A9999 B3/7 (5:4c2d2e2f2g2");
    round_trip(&t);
    // The extremes of the MIDI range.
    let t = tune("L:1/8\nK:C", "C,,,,, g''''");
    assert_eq!(t.events, vec![note(0, 1, 8), note(127, 1, 8)]);
    round_trip(&t);
    let t = tune("L:1/8\nK:C#", "C,,,,, B,,,,,, G''''");
    assert_eq!(t.events, vec![note(1, 1, 8), note(0, 1, 8), note(116, 1, 8)]);
    round_trip(&t);
}

#[test]
fn never_panics_on_garbage() {
    // A small linear congruential generator: deterministic pseudo-random inputs.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let alphabet: Vec<char> =
        "ABCDEFGabcdefgzxZX^_=,'/0123456789|:[]{}()<>-!+\"~.% \\\nKLMQTV&#yéH".chars().collect();
    let base =
        "X:1\nT:t\nM:6/8\nL:1/8\nK:D\n|: A>B c/d/e | ^f=f _B [CEG]2 (3ABc :|[1 z2 A,, :|2 f2 e |]\n";
    let base_chars: Vec<char> = base.chars().collect();
    let mut parsed = 0;
    for round in 0..3000 {
        let text: String = if round % 2 == 0 {
            let len = next() % 60;
            let body: String = (0..len).map(|_| alphabet[next() % alphabet.len()]).collect();
            format!("X:1\nM:{}/8\nK:G\n{body}", next() % 13)
        } else {
            let mut chars = base_chars.clone();
            for _ in 0..(1 + next() % 4) {
                let at = next() % chars.len();
                chars[at] = alphabet[next() % alphabet.len()];
            }
            chars.into_iter().collect()
        };
        if let Ok(t) = parse_tune(&text) {
            parsed += 1;
            round_trip(&t);
        }
        let _ = parse_collection(&text);
    }
    assert!(parsed > 100, "{parsed}");
}
