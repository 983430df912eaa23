//! Rule files: parsing, checking, provincial values, and the shipped files at their boundaries.

use super::*;

const SAMPLE: &str = r#"
    [[rule]]
    id = "CL-140"
    title = "生产、销售伪劣产品罪"
    offence = "CL-140"
    domain = "market_regulation"
    condition = "sales_fen >= $sales_fen || unsold_goods_fen >= 15_000_000"
    values = { sales_fen = 5_000_000 }
    province = { "33" = { sales_fen = 6_000_000 } }
    citation = "追诉标准(一) 第16条"
    effective_from = "2008-06-25"
"#;

fn ctx<'a>(facts: &'a Facts, division: &'a DivisionCode) -> Context<'a> {
    Context {
        facts,
        division,
        person: false,
        prior_penalties: &|_| 0,
    }
}

#[test]
fn rules_use_provincial_values_and_report_their_facts() {
    let rules = Thresholds::parse(SAMPLE, "test").unwrap();
    let offence = OffenceCode::parse("CL-140").unwrap();
    let day: Date = "2026-11-27".parse().unwrap();
    let facts: Facts = [("sales_fen".to_owned(), 5_500_000)].into();
    let beijing = DivisionCode::parse("110105").unwrap();
    let hangzhou = DivisionCode::parse("330106").unwrap();
    let hits = rules.hits(&offence, day, &ctx(&facts, &beijing));
    assert_eq!(hits.len(), 1);
    assert_eq!(
        hits[0].facts,
        [
            ("sales_fen".to_owned(), 5_500_000),
            ("unsold_goods_fen".to_owned(), 0)
        ]
        .into()
    );
    assert!(
        rules
            .hits(&offence, day, &ctx(&facts, &hangzhou))
            .is_empty(),
        "Zhejiang's higher value"
    );
    assert!(
        rules
            .hits(
                &offence,
                "2008-06-24".parse().unwrap(),
                &ctx(&facts, &beijing)
            )
            .is_empty(),
        "not yet in force"
    );
}

#[test]
fn bad_rules_name_the_rule_and_the_reason() {
    for (bad, reason) in [
        (
            SAMPLE.replace("sales_fen >= $sales_fen ||", "sales_fen >=>"),
            "condition",
        ),
        (SAMPLE.replace("$sales_fen", "$missing_fen"), "not defined"),
        (SAMPLE.replace("unsold_goods_fen", "unsold_goods"), "unit"),
        (SAMPLE.replace("\"33\"", "\"99\""), "province"),
        (
            SAMPLE.replace("citation = \"追诉标准(一) 第16条\"", "citation = \"\""),
            "citation",
        ),
        (
            SAMPLE.replace(
                "effective_from = \"2008-06-25\"",
                "effective_from = \"2008-06-25\"\neffective_until = \"2001-01-01\"",
            ),
            "before",
        ),
        (format!("{SAMPLE}\n{SAMPLE}"), "twice"),
    ] {
        let err = Thresholds::parse(&bad, "thresholds.toml").unwrap_err();
        assert_eq!(err.origin, "thresholds.toml");
        assert!(err.reason.contains(reason), "{reason}: {err}");
        assert!(
            err.to_string().contains("CL-140") || reason == "twice",
            "{err}"
        );
    }
    let err = Thresholds::parse("[[rule]]\nid = 1", "t.toml").unwrap_err();
    assert!(err.to_string().contains("t.toml"));
}

#[test]
fn discretion_bands_scale_with_facts() {
    let text = r#"
        [[band]]
        offence = "CL-140"
        severity = "general"
        min_fen = "goods_value_fen"
        max_fen = "goods_value_fen * 2"
        citation = "产品质量法 第50条"
        effective_from = "2018-12-29"
    "#;
    let discretion = Discretion::parse(text, "d.toml").unwrap();
    let band = discretion
        .band(
            &OffenceCode::parse("CL-140").unwrap(),
            Severity::General,
            "2026-01-01".parse().unwrap(),
        )
        .unwrap();
    let facts: Facts = [("goods_value_fen".to_owned(), 1_000_000)].into();
    assert_eq!(band.range(&facts), (1_000_000, 2_000_000));
    assert!(
        discretion
            .band(
                &OffenceCode::parse("CL-140").unwrap(),
                Severity::Serious,
                "2026-01-01".parse().unwrap()
            )
            .is_none()
    );
    let bad = text.replace("goods_value_fen * 2", "goods_value >= 2");
    assert!(
        Discretion::parse(&bad, "d.toml")
            .unwrap_err()
            .reason
            .contains("max_fen")
    );
}

/// The shipped threshold file: every rule just below, at and above its boundary.
#[test]
fn shipped_thresholds_fire_at_their_boundaries() {
    let rules = Thresholds::parse(
        include_str!("../../../rules/thresholds.toml"),
        "rules/thresholds.toml",
    )
    .unwrap();
    assert!(rules.rules().len() >= 12);
    let day: Date = "2026-11-27".parse().unwrap();
    let hangzhou = DivisionCode::parse("330106").unwrap();
    // (offence, person, prior penalties, facts below, facts at the boundary, facts above)
    type Case<'a> = (
        &'a str,
        bool,
        i64,
        &'a [(&'a str, i64)],
        &'a [(&'a str, i64)],
        &'a [(&'a str, i64)],
    );
    let cases: &[Case] = &[
        (
            "CL-140",
            false,
            0,
            &[("sales_fen", 4_999_999)],
            &[("sales_fen", 5_000_000)],
            &[("sales_fen", 5_000_001)],
        ),
        (
            "CL-140",
            false,
            0,
            &[("sales_fen", 4_000_000), ("unsold_goods_fen", 2_999_999)],
            &[("sales_fen", 4_000_000), ("unsold_goods_fen", 3_000_000)],
            &[("unsold_goods_fen", 15_000_001)],
        ),
        (
            "CL-143",
            false,
            0,
            &[("banned_substance_count", 0)],
            &[("banned_substance_count", 1)],
            &[("sick_animal_meat_count", 2)],
        ),
        (
            "CL-201",
            false,
            0,
            &[("evaded_tax_fen", 9_999_999), ("tax_due_fen", 50_000_000)],
            &[("evaded_tax_fen", 10_000_000), ("tax_due_fen", 100_000_000)],
            &[("evaded_tax_fen", 10_000_001), ("tax_due_fen", 100_000_000)],
        ),
        (
            "CL-201",
            false,
            0,
            &[("evaded_tax_fen", 10_000_000), ("tax_due_fen", 100_000_001)],
            &[("evaded_tax_fen", 10_000_000), ("tax_due_fen", 100_000_000)],
            &[("evaded_tax_fen", 20_000_000), ("tax_due_fen", 100_000_000)],
        ),
        (
            "CL-201",
            false,
            0,
            &[
                ("evaded_tax_fen", 10_000_000),
                ("paid_after_notice_count", 1),
            ],
            &[
                ("evaded_tax_fen", 10_000_000),
                ("paid_after_notice_count", 1),
                ("prior_criminal_count", 1),
            ],
            &[("evaded_tax_fen", 10_000_000)],
        ),
        (
            "CL-176",
            false,
            0,
            &[("depositors_count", 149)],
            &[("depositors_count", 150)],
            &[("deposits_fen", 100_000_001)],
        ),
        (
            "CL-213",
            false,
            0,
            &[("turnover_fen", 4_999_999)],
            &[("turnover_fen", 5_000_000)],
            &[("gain_fen", 3_000_001)],
        ),
        (
            "CL-213",
            false,
            0,
            &[("marks_count", 2), ("gain_fen", 1_999_999)],
            &[("marks_count", 2), ("gain_fen", 2_000_000)],
            &[("marks_count", 3), ("turnover_fen", 3_000_001)],
        ),
        (
            "CL-214",
            false,
            0,
            &[("sales_fen", 4_999_999)],
            &[("sales_fen", 5_000_000)],
            &[("sales_fen", 1_000_000), ("unsold_goods_fen", 14_500_000)],
        ),
        (
            "CL-225",
            true,
            0,
            &[("gain_fen", 999_999)],
            &[("gain_fen", 1_000_000)],
            &[("turnover_fen", 5_000_001)],
        ),
        (
            "CL-225",
            false,
            0,
            &[("gain_fen", 9_999_999)],
            &[("gain_fen", 10_000_000)],
            &[("turnover_fen", 50_000_001)],
        ),
        (
            "CL-276-1",
            false,
            0,
            &[
                ("unpaid_after_order_count", 1),
                ("unpaid_months_count", 3),
                ("unpaid_wages_fen", 499_999),
            ],
            &[
                ("unpaid_after_order_count", 1),
                ("unpaid_months_count", 3),
                ("unpaid_wages_fen", 500_000),
            ],
            &[
                ("unpaid_after_order_count", 1),
                ("workers_count", 10),
                ("unpaid_wages_fen", 3_000_001),
            ],
        ),
        (
            "CL-276-1",
            false,
            0,
            &[("unpaid_months_count", 3), ("unpaid_wages_fen", 900_000)],
            &[
                ("unpaid_after_order_count", 1),
                ("unpaid_months_count", 3),
                ("unpaid_wages_fen", 900_000),
            ],
            &[
                ("unpaid_after_order_count", 2),
                ("unpaid_months_count", 4),
                ("unpaid_wages_fen", 900_000),
            ],
        ),
        (
            "CL-134",
            false,
            0,
            &[("serious_injuries_count", 2)],
            &[("serious_injuries_count", 3)],
            &[("deaths_count", 1)],
        ),
        (
            "CL-134",
            false,
            0,
            &[("direct_loss_fen", 99_999_999)],
            &[("direct_loss_fen", 100_000_000)],
            &[("direct_loss_fen", 100_000_001)],
        ),
        (
            "CL-338",
            false,
            0,
            &[("hazardous_waste_kg", 2_999)],
            &[("hazardous_waste_kg", 3_000)],
            &[("hazardous_waste_kg", 3_001)],
        ),
        (
            "CL-338",
            false,
            0,
            &[("heavy_metal_times_limit_x100", 299)],
            &[("heavy_metal_times_limit_x100", 300)],
            &[("other_metal_times_limit_x100", 1_001)],
        ),
        (
            "CL-342",
            false,
            0,
            &[("basic_farmland_mu_x100", 499)],
            &[("basic_farmland_mu_x100", 500)],
            &[("arable_land_mu_x100", 1_001)],
        ),
        (
            "CL-343",
            false,
            0,
            &[("mineral_value_fen", 9_999_999)],
            &[("mineral_value_fen", 10_000_000)],
            &[
                ("protected_area_count", 1),
                ("mineral_value_fen", 5_000_001),
            ],
        ),
    ];
    for (offence, person, prior, below, at, above) in cases {
        let offence_code = OffenceCode::parse(offence).unwrap();
        let check = |facts: &[(&str, i64)]| {
            let facts: Facts = facts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
            let prior = *prior;
            let history = move |_| prior;
            let ctx = Context {
                facts: &facts,
                division: &hangzhou,
                person: *person,
                prior_penalties: &history,
            };
            !rules.hits(&offence_code, day, &ctx).is_empty()
        };
        assert!(
            !check(below),
            "{offence} fired below its threshold: {below:?}"
        );
        assert!(check(at), "{offence} silent at its threshold: {at:?}");
        assert!(
            check(above),
            "{offence} silent above its threshold: {above:?}"
        );
    }
}

#[test]
fn repeat_offences_count_prior_penalties() {
    let rules = Thresholds::parse(include_str!("../../../rules/thresholds.toml"), "t").unwrap();
    let offence = OffenceCode::parse("CL-338").unwrap();
    let division = DivisionCode::parse("330106").unwrap();
    let facts: Facts = [("hazardous_waste_kg".to_owned(), 10)].into();
    let with = |prior: i64| {
        let history = move |months: u32| if months == 24 { prior } else { 0 };
        let ctx = Context {
            facts: &facts,
            division: &division,
            person: false,
            prior_penalties: &history,
        };
        rules
            .hits(&offence, "2026-11-27".parse().unwrap(), &ctx)
            .len()
    };
    assert_eq!(with(1), 0, "one prior penalty is not enough");
    assert_eq!(with(2), 1, "two within 24 months, then again");
}

#[test]
fn shipped_discretion_bands_load() {
    let discretion = Discretion::parse(
        include_str!("../../../rules/discretion.toml"),
        "rules/discretion.toml",
    )
    .unwrap();
    assert_eq!(discretion.bands().len(), 9);
    let band = discretion
        .band(
            &OffenceCode::parse("CL-134").unwrap(),
            Severity::Minor,
            "2026-01-01".parse().unwrap(),
        )
        .unwrap();
    assert_eq!(band.range(&Facts::new()), (30_000_000, 100_000_000));
}
