//! The shared vocabulary of the domain: what events, rules, routing and access all speak of —
//! enforcement domains, subjects, facts, handling codes, severity. A leaf: it imports nothing
//! of its siblings but identifiers, so that no two domain files need each other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ids::{ResidentId, SubjectKey, Uscc};

/// An enforcement domain (执法领域); routing sends leads to agencies registered for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// 食品药品.
    FoodDrug,
    /// 公共卫生.
    PublicHealth,
    /// 自然资源.
    NaturalResources,
    /// 生态环境.
    EcologyEnvironment,
    /// 安全生产.
    WorkSafety,
    /// 劳动保障.
    LabourSecurity,
    /// 城市管理.
    UrbanManagement,
    /// 交通运输.
    Transport,
    /// 金融服务.
    FinancialServices,
    /// 教育培训.
    EducationTraining,
    /// 市场监管.
    MarketRegulation,
    /// 税务.
    Tax,
}

impl Domain {
    /// Every domain, in protobuf order.
    pub const ALL: [Domain; 12] = [
        Domain::FoodDrug,
        Domain::PublicHealth,
        Domain::NaturalResources,
        Domain::EcologyEnvironment,
        Domain::WorkSafety,
        Domain::LabourSecurity,
        Domain::UrbanManagement,
        Domain::Transport,
        Domain::FinancialServices,
        Domain::EducationTraining,
        Domain::MarketRegulation,
        Domain::Tax,
    ];

    /// The Chinese name, for people.
    pub fn label(self) -> &'static str {
        match self {
            Domain::FoodDrug => "食品药品",
            Domain::PublicHealth => "公共卫生",
            Domain::NaturalResources => "自然资源",
            Domain::EcologyEnvironment => "生态环境",
            Domain::WorkSafety => "安全生产",
            Domain::LabourSecurity => "劳动保障",
            Domain::UrbanManagement => "城市管理",
            Domain::Transport => "交通运输",
            Domain::FinancialServices => "金融服务",
            Domain::EducationTraining => "教育培训",
            Domain::MarketRegulation => "市场监管",
            Domain::Tax => "税务",
        }
    }
}

/// How widely an event may be shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    /// May be published.
    Public,
    /// For the agencies involved and their supervisors.
    Internal,
    /// Need-to-know only.
    Restricted,
}

/// A subject's identifier: credit code or identity number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum SubjectId {
    /// A legal entity or other organisation.
    Organization(Uscc),
    /// A natural person.
    Person(ResidentId),
}

/// The party an event is about (当事人).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Identifier.
    #[serde(flatten)]
    pub id: SubjectId,
    /// Registered name.
    pub name: String,
}

impl Subject {
    /// The key that orders and partitions this subject's events.
    pub fn key(&self) -> SubjectKey {
        match &self.id {
            SubjectId::Organization(code) => SubjectKey::organization(code),
            SubjectId::Person(id) => SubjectKey::person(id),
        }
    }
}

/// Named numeric facts, units in the names, sorted by name.
pub type Facts = BTreeMap<String, i64>;

/// How an event may be shared, set by its publisher (after Europol SIENA's handling codes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    /// Parties, and supervisors within the jurisdiction, may read it (the default).
    #[default]
    ShareWithinJurisdiction,
    /// Only the parties to the event may read it.
    PartiesOnly,
    /// Only the parties, and routing delivers it only to the agencies the publisher named.
    NoOnwardSharing,
}

/// How grave a case is, as discretion benchmarks grade it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// 较轻.
    Minor,
    /// 一般.
    General,
    /// 严重.
    Serious,
}
