//! The identifiers' check characters and formats against known-good and known-bad values.

use super::*;

#[test]
fn identifiers_with_multibyte_characters_are_refused_not_panicked_on() {
    // 18 bytes whose 17th is inside 三: found by the publish_request fuzzer.
    let err = ResidentId::parse("111231002X\u{1a}\u{6}张三").unwrap_err();
    assert_eq!(err.rule, "resident_id.format");
    let err = Uscc::parse("913301067161058张").unwrap_err();
    assert!(err.description.contains("'张'"), "{}", err.description);
}

#[test]
fn uscc_accepts_registered_codes() {
    // Published registrations (Alibaba (China) Co., Tencent Shenzhen, and GB 32100's example).
    for code in [
        "91330100716105852F",
        "91440300708461136T",
        "91350100M000100Y43",
        "91110108551385082Q",
    ] {
        let parsed = Uscc::parse(code).unwrap();
        assert!(parsed.checksum_ok());
        assert_eq!(parsed.as_str(), code);
    }
}

#[test]
fn uscc_upper_cases_input() {
    assert_eq!(
        Uscc::parse("91350100m000100y43").unwrap().as_str(),
        "91350100M000100Y43"
    );
}

#[test]
fn uscc_rejects_wrong_check_character() {
    let err = Uscc::parse("91330100716105852E").unwrap_err();
    assert_eq!(err.rule, "uscc.checksum");
    assert!(err.description.contains("gives F"), "{}", err.description);
    // In warn mode the format parser accepts it and tells the checksum failed.
    let lenient = Uscc::parse_format("91330100716105852E").unwrap();
    assert!(!lenient.checksum_ok());
}

#[test]
fn uscc_rejects_bad_format() {
    for (code, why) in [
        ("9133010071610585", "too short"),
        ("91330100716105852FF", "too long"),
        ("91330100716105852I", "I is not in the alphabet"),
        ("91330100716105852O", "O is not in the alphabet"),
        ("91A30100716105852F", "division code not digits"),
        ("91330100716105852-", "punctuation"),
    ] {
        assert_eq!(Uscc::parse(code).unwrap_err().rule, "uscc.format", "{why}");
    }
}

#[test]
fn uscc_check_char_maps_31_to_0() {
    // Search a body whose weighted sum is ≡ 0 mod 31: its check character must be '0'.
    let body = (0..10_000u32)
        .map(|n| format!("91330100{n:09}"))
        .find(|b| {
            let sum: u32 = b
                .bytes()
                .zip(USCC_WEIGHTS)
                .map(|(c, w)| u32::from(c - b'0') * w)
                .sum();
            sum.is_multiple_of(31)
        })
        .unwrap();
    assert_eq!(Uscc::check_char(&body), Some('0'));
}

#[test]
fn resident_id_accepts_standard_examples() {
    for id in [
        "11010519491231002X",
        "440524188001010014",
        "11010519491231002x",
    ] {
        assert!(ResidentId::parse(id).is_ok(), "{id}");
    }
    assert_eq!(
        ResidentId::parse("11010519491231002x").unwrap().as_str(),
        "11010519491231002X"
    );
}

#[test]
fn resident_id_rejects_wrong_check_character() {
    let err = ResidentId::parse("110105194912310021").unwrap_err();
    assert_eq!(err.rule, "resident_id.checksum");
    assert!(err.description.contains("gives X"));
    assert_eq!(
        ResidentId::parse("440524188001010013").unwrap_err().rule,
        "resident_id.checksum"
    );
}

#[test]
fn resident_id_rejects_bad_format() {
    for id in [
        "1101051949123100",   // short
        "11010519491231002Y", // bad check char
        "1101051949A231002X", // letter in body
        "110105194913310020", // month 13
        "110105194902300025", // 30 February
        "110105170001010014", // year 1700
    ] {
        assert_eq!(
            ResidentId::parse(id).unwrap_err().rule,
            "resident_id.format",
            "{id}"
        );
    }
}

#[test]
fn resident_id_debug_hides_the_number() {
    let id = ResidentId::parse("11010519491231002X").unwrap();
    assert_eq!(format!("{id:?}"), "ResidentId(110105…X)");
}

#[test]
fn person_key_is_a_stable_pseudonym() {
    let id = ResidentId::parse("11010519491231002X").unwrap();
    let key = SubjectKey::person(&id);
    assert!(key.as_str().starts_with("person:"));
    assert!(!key.as_str().contains("11010519491231002X"));
    assert_eq!(key, SubjectKey::person(&id));
}

#[test]
fn division_codes_parse_and_nest() {
    let city = DivisionCode::parse("330100").unwrap();
    let county = DivisionCode::parse("330106").unwrap();
    let township = DivisionCode::parse("330106005").unwrap();
    let village = DivisionCode::parse("330106005001").unwrap();
    let province = DivisionCode::parse("330000").unwrap();
    assert_eq!(city.jurisdiction_prefix(), "3301");
    assert_eq!(province.jurisdiction_prefix(), "33");
    assert_eq!(county.jurisdiction_prefix(), "330106");
    assert_eq!(township.jurisdiction_prefix(), "330106005");
    assert_eq!(
        DivisionCode::parse("330106005000")
            .unwrap()
            .jurisdiction_prefix(),
        "330106005"
    );
    assert!(city.covers(&county) && city.covers(&village) && province.covers(&city));
    assert!(county.covers(&township) && !county.covers(&city));
    assert!(!DivisionCode::parse("330102").unwrap().covers(&county));
}

#[test]
fn division_codes_reject_bad_format() {
    for raw in ["3301", "3301060", "33010600500", "33010A", "990100", ""] {
        assert_eq!(
            DivisionCode::parse(raw).unwrap_err().rule,
            "division.format",
            "{raw}"
        );
    }
}

#[test]
fn agency_ids_parse() {
    let id = AgencyId::parse("330106-SCJG").unwrap();
    assert_eq!(id.division(), "330106");
    for raw in [
        "330106SCJG",
        "330106-scjg",
        "33010-SCJG",
        "330106-S",
        "990106-SCJG",
        "330106-SCJG1",
    ] {
        assert_eq!(
            AgencyId::parse(raw).unwrap_err().rule,
            "agency.format",
            "{raw}"
        );
    }
}

#[test]
fn event_ids_and_offence_codes_parse() {
    assert!(EventId::parse("lead-2026-11-27:0001").is_ok());
    assert!(EventId::parse(&"a".repeat(128)).is_ok());
    for raw in ["", "-x", "a b", "事件", &"a".repeat(129)] {
        assert_eq!(
            EventId::parse(raw).unwrap_err().rule,
            "event_id.format",
            "{raw}"
        );
    }
    assert!(OffenceCode::parse("CL-140").is_ok());
    assert_eq!(
        OffenceCode::parse("CL 140").unwrap_err().rule,
        "offence_code.format"
    );
}
