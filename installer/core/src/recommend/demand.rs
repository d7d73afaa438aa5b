//! Sizing for the team: a number of developers → the expected peak of concurrent requests through the model
//! server, and whether a deployment keeps up. The model, its assumptions and its sources are in
//! docs/sizing.md; the unit tests reproduce the worked example written there.

use serde::Serialize;

use super::{Deployment, KvCacheDtype};

/// Share of the developers active in the busiest minute. ASSUMPTION (docs/sizing.md).
pub const SHARE_ACTIVE_AT_PEAK: f64 = 0.5;
/// Code-completion requests per active developer per minute. ASSUMPTION, chosen with [`CHATS_PER_MIN`] so
/// that the total matches GitLab's planning figure of 7 requests per second per 1,000 users.
pub const COMPLETIONS_PER_MIN: f64 = 0.7;
/// Chat (and code-generation) requests per active developer per minute. ASSUMPTION.
pub const CHATS_PER_MIN: f64 = 0.14;
/// Seconds one code completion is in flight (prompt prefill + a short completion). ASSUMPTION.
pub const COMPLETION_SECONDS: f64 = 2.0;
/// Seconds one chat answer is in flight (streamed). ASSUMPTION.
pub const CHAT_SECONDS: f64 = 20.0;
/// Tokens of a code-completion prompt (the file around the cursor, other open tabs). ASSUMPTION.
pub const COMPLETION_PROMPT_TOKENS: u64 = 1_536;
/// Tokens of a completion. ASSUMPTION.
pub const COMPLETION_OUTPUT_TOKENS: u64 = 64;
/// Tokens of a chat prompt (history, selected code, system prompt). ASSUMPTION.
pub const CHAT_PROMPT_TOKENS: u64 = 4_096;
/// Tokens of a chat answer. ASSUMPTION.
pub const CHAT_OUTPUT_TOKENS: u64 = 512;
/// The most developers one plan is sized for; more is a typo or a fleet, not one server.
pub const MAX_DEVELOPERS: u32 = 100_000;

/// The load a team puts on the model server at its busiest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    pub developers: u32,
    pub active_at_peak: f64,
    pub requests_per_second: f64,
    /// Little's law: arrivals × time in flight, completions and chats together.
    pub concurrent_requests: f64,
    /// KV-cache tokens one in-flight request holds on average (weighted by time in flight).
    pub tokens_per_request: u64,
}

/// The peak load of `developers` under the model of docs/sizing.md.
pub fn peak(developers: u32) -> Peak {
    let active = f64::from(developers) * SHARE_ACTIVE_AT_PEAK;
    let completions = active * COMPLETIONS_PER_MIN / 60.0;
    let chats = active * CHATS_PER_MIN / 60.0;
    let in_flight_completions = completions * COMPLETION_SECONDS;
    let in_flight_chats = chats * CHAT_SECONDS;
    let concurrent = in_flight_completions + in_flight_chats;
    let weight_c = COMPLETIONS_PER_MIN * COMPLETION_SECONDS;
    let weight_h = CHATS_PER_MIN * CHAT_SECONDS;
    let tokens = (weight_c * (COMPLETION_PROMPT_TOKENS + COMPLETION_OUTPUT_TOKENS) as f64
        + weight_h * (CHAT_PROMPT_TOKENS + CHAT_OUTPUT_TOKENS) as f64)
        / (weight_c + weight_h);
    Peak {
        developers,
        active_at_peak: active,
        requests_per_second: completions + chats,
        concurrent_requests: concurrent,
        tokens_per_request: tokens.round() as u64,
    }
}

/// Requests of the average size that `capacity_tokens` of KV cache hold at once.
pub fn requests_held(capacity_tokens: u64, tokens_per_request: u64) -> f64 {
    if tokens_per_request == 0 {
        return 0.0;
    }
    capacity_tokens as f64 / tokens_per_request as f64
}

/// Whether a deployment keeps up with the team, and what would close a gap.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Demand {
    pub developers: u32,
    /// Expected concurrent requests at peak.
    pub peak_concurrent_requests: f64,
    pub peak_requests_per_second: f64,
    pub tokens_per_request: u64,
    /// Concurrent requests of that size the recommendation holds (all replicas).
    pub serves_concurrent_requests: f64,
    /// The same for one replica.
    pub per_replica_concurrent_requests: f64,
    /// serves ÷ peak: ≥ 1 keeps up.
    pub headroom: f64,
    pub enough: bool,
    /// "≈ 35 concurrent requests at peak (1000 developers); this serves ≈ 52".
    pub summary: String,
    /// What would close a shortfall, with numbers; empty when the deployment keeps up.
    pub to_close_gap: Vec<String>,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The demand of `developers` against deployment `d`. `better` lists other configurations (label, requests
/// they hold) that the caller found, offered when `d` falls short; `fp8_kv` says whether the GPUs can hold
/// an FP8 KV cache (compute capability ≥ 8.9).
pub fn assess(developers: u32, d: &Deployment, better: &[(String, f64)], fp8_kv: bool) -> Demand {
    let p = peak(developers);
    let per_replica = requests_held(d.capacity_tokens, p.tokens_per_request);
    let replicas = d.data_parallel_size.max(1);
    let serves = per_replica * f64::from(replicas);
    let enough = serves >= p.concurrent_requests;
    let headroom = if p.concurrent_requests > 0.0 {
        serves / p.concurrent_requests
    } else {
        0.0
    };
    let mut summary = format!(
        "≈ {:.0} concurrent requests at peak ({developers} developers, ≈ {:.1} requests/s); this serves ≈ {:.0}",
        p.concurrent_requests, p.requests_per_second, serves
    );
    if replicas > 1 {
        summary.push_str(&format!(" ({replicas} replicas × ≈ {per_replica:.0})"));
    }
    summary.push_str(&if enough {
        format!(", {headroom:.1}× the peak")
    } else {
        format!(
            ", short by ≈ {:.0}",
            (p.concurrent_requests - serves).ceil()
        )
    });
    let mut gap = Vec::new();
    if !enough && per_replica > 0.0 {
        let needed = (p.concurrent_requests / per_replica).ceil().max(1.0) as u64;
        let tp = u64::from(d.tensor_parallel_size.max(1));
        let have = d.gpus.len() as u64;
        gap.push(format!(
            "more GPUs: {needed} replicas of this configuration (DP={needed}) need {} × {} in one group \
             ({} more than the {have} used)",
            needed * tp,
            d.gpu_name,
            (needed * tp).saturating_sub(have)
        ));
        if fp8_kv && d.kv_cache_dtype == KvCacheDtype::Auto {
            gap.push(format!(
                "an FP8 KV cache (--kv-cache-dtype fp8 in the model's arguments) halves the memory per \
                 token: ≈ {:.0} concurrent requests, at some cost in accuracy",
                serves * 2.0
            ));
        }
        for (label, held) in better {
            if *held > serves {
                gap.push(format!("{label}: ≈ {held:.0} concurrent requests"));
            }
        }
        gap.push(
            "a shorter context does not help: vLLM's paged KV cache holds requests by their real length, \
             so --context only limits the longest prompt"
                .to_string(),
        );
    }
    Demand {
        developers,
        peak_concurrent_requests: round1(p.concurrent_requests),
        peak_requests_per_second: round1(p.requests_per_second),
        tokens_per_request: p.tokens_per_request,
        serves_concurrent_requests: round1(serves),
        per_replica_concurrent_requests: round1(per_replica),
        headroom: (headroom * 100.0).round() / 100.0,
        enough,
        summary,
        to_close_gap: gap,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// docs/sizing.md, "Worked example": 1,000 developers.
    #[test]
    fn the_worked_example_of_the_docs() {
        let p = peak(1000);
        assert_eq!(p.active_at_peak, 500.0);
        // 500 × (0.7 + 0.14) / 60 = 7 requests per second: GitLab's planning figure per 1,000 users.
        assert!((p.requests_per_second - 7.0).abs() < 1e-9, "{p:?}");
        // 500 × 0.7 / 60 × 2 s = 11.67 completions + 500 × 0.14 / 60 × 20 s = 23.33 chats in flight.
        assert!((p.concurrent_requests - 35.0).abs() < 1e-9, "{p:?}");
        // (1.4 × 1600 + 2.8 × 4608) / 4.2 = 3605.3 tokens per in-flight request.
        assert_eq!(p.tokens_per_request, 3605);
        // Mistral Small 3.2 bf16 on one H100 holds 166,944 KV tokens: 166944 / 3605 ≈ 46 such requests,
        // 1.3× the peak; eight H100s (DP=8) ≈ 370.
        let one = requests_held(166_944, p.tokens_per_request);
        assert!((one - 46.31).abs() < 0.01, "{one}");
        assert!((one / p.concurrent_requests - 1.32).abs() < 0.01);
        assert!((8.0 * one - 370.5).abs() < 0.1);
        // 2,000 developers: 70 at peak; one H100 falls short, two replicas (⌈70 / 46.3⌉) keep up.
        let p2 = peak(2000);
        assert!((p2.concurrent_requests - 70.0).abs() < 1e-9);
        assert!(one < p2.concurrent_requests && 2.0 * one >= p2.concurrent_requests);
    }

    #[test]
    fn demand_scales_with_the_team() {
        assert!((peak(40).concurrent_requests - 1.4).abs() < 1e-9);
        assert!((peak(2000).concurrent_requests - 70.0).abs() < 1e-9);
        assert_eq!(peak(0).concurrent_requests, 0.0);
        assert_eq!(requests_held(1000, 0), 0.0);
    }
}
