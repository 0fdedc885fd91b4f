//! The `ldap` section of docs/PERFORMANCE.md: the table of L1–L3 against slapd and the
//! figures behind it.

use crate::figures::times;
use crate::machine::Machine;
use crate::report::{placement, render_rows, user_arguments, Markers, Row};

use super::*;

/// This benchmark's section of docs/PERFORMANCE.md.
pub(super) const MARKERS: Markers = Markers {
    begin: "<!-- ldap:begin -->",
    end: "<!-- ldap:end -->",
    after: None,
};
pub(super) const PATH_OPTIONS: [&str; 4] = ["--server", "--admin", "--slapd", "--slapadd"];

/// Everything the report section says.
#[derive(Debug)]
pub(super) struct Report<'a> {
    pub(super) args: &'a LdapArgs,
    pub(super) machine: &'a Machine,
    pub(super) pinned: bool,
    pub(super) verify_ms: f64,
    pub(super) congvu: Option<&'a Figures>,
    pub(super) slapd: Option<&'a Figures>,
}

pub(super) fn per_second(run: &Run) -> String {
    if run.per_second >= 100.0 {
        format!("{:.0}/s", run.per_second)
    } else {
        format!("{:.1}/s", run.per_second)
    }
}

/// congvu's figure over the reference's.
pub(super) fn ratio(ours: Option<f64>, reference: Option<f64>) -> Option<f64> {
    Some(ours? / reference?)
}

impl Report<'_> {
    pub(super) fn render(&self) -> String {
        let args = self.args;
        let command = user_arguments(&PATH_OPTIONS);
        let placement = placement(
            self.pinned,
            self.machine.cores,
            ["each server", "servers"],
            "client",
        );
        let mut out = format!(
            "{begin}\n## L1–L3: LDAP against OpenLDAP slapd\n\n\
             Measured by `bench/ldap.sh{command}`, release build, on {cores} cores ({cpu};\n\
             1-minute load average {load} before the run), {placement}.\n\
             Each figure is taken over {secs} s, after {warm} s of warm-up, or for L3 after the flood has\n\
             run {flood_warm} s. Both servers hold the same {n} officials: congvu from `congvu-admin user import`,\n\
             slapd the same entries loaded with `slapadd` into back-mdb (equality indexes on uid, mail, cn;\n\
             ACLs: bound identities read, passwords serve binds only). Both log warnings only and are\n\
             asked the same things over plaintext LDAP on loopback by the same client.\n\n\
             - Searches: `(uid=…)` for a random official under `{PEOPLE}`, 7 attributes, on\n  \
               {conns} connections bound as the service account `{READER}`; every answer is checked\n  \
               (result 0, exactly that entry). The search loops encode and decode with `ldap3`'s BER layer\n  \
               directly: its full client costs about as much CPU per search as a server spends answering.\n\
             - Binds: {binders} officials with chosen passwords stored as argon2id m=19456 KiB, t=2, p=1 on\n  \
               both sides (slapd: `moduleload argon2 m=19456 t=2 p=1`, `{{ARGON2}}$argon2id$…` values), bound\n  \
               in turn on {conns} connections with `ldap3`'s client.\n\
             - Flood: {flood} connections binding with wrong passwords, each bind naming the next of the\n  \
               {binders} officials, while the searches above run. Meanwhile a bystander on an address of its\n  \
               own binds as the service account with its right secret, one bind after another: what a real\n  \
               login waits during the flood.\n\n\
             | id | what | congvu | slapd (or unloaded) | ratio | target | met? |\n\
             |---|---|---|---|---|---|---|\n",
            begin = MARKERS.begin,
            cores = self.machine.cores,
            cpu = self.machine.cpu,
            load = self.machine.load,
            secs = args.seconds,
            warm = args.warmup,
            flood_warm = args.flood_warmup,
            n = args.officials,
            conns = args.connections,
            binders = args.bind_users,
            flood = args.flood,
        );
        out.push_str(&render_rows(&self.rows(), "wrong answers"));
        out.push_str(&self.details());
        out.push_str(MARKERS.end);
        out.push('\n');
        out
    }

    pub(super) fn rows(&self) -> Vec<Row> {
        let (c, s) = (self.congvu, self.slapd);
        let unloaded = [c.map(|f| &f.searches), s.map(|f| &f.searches)];
        let binds = [c.map(|f| &f.binds), s.map(|f| &f.binds)];
        let mut rows = Vec::new();
        let throughput = ratio(
            unloaded[0].map(|r| r.per_second),
            unloaded[1].map(|r| r.per_second),
        );
        rows.push(Row {
            id: "L1",
            what: "`(uid=…)` searches/s".into(),
            ours: unloaded[0].map(per_second),
            reference: unloaded[1].map(per_second),
            ratio: throughput.map(times),
            target: "≥ 1.3×",
            met: throughput.map(|r| r >= 1.3),
            invalid: wrong(&unloaded),
        });
        let cpu = ratio(
            unloaded[0].map(|r| r.cpu_us_per_op),
            unloaded[1].map(|r| r.cpu_us_per_op),
        );
        rows.push(Row {
            id: "L1",
            what: "server CPU per search".into(),
            ours: unloaded[0].map(|r| format!("{:.0} µs", r.cpu_us_per_op)),
            reference: unloaded[1].map(|r| format!("{:.0} µs", r.cpu_us_per_op)),
            ratio: cpu.map(times),
            target: "≤ 1.0×",
            met: cpu.map(|r| r <= 1.0),
            invalid: wrong(&unloaded),
        });
        let bind_ratio = ratio(
            binds[0].map(|r| r.per_second),
            binds[1].map(|r| r.per_second),
        );
        rows.push(Row {
            id: "L2",
            what: "simple binds/s, an argon2id verification each".into(),
            ours: binds[0].map(per_second),
            reference: binds[1].map(per_second),
            ratio: bind_ratio.map(times),
            target: "≥ 2×",
            met: bind_ratio.map(|r| r >= 2.0),
            invalid: wrong(&binds),
        });
        rows.extend(self.flood_rows());
        rows
    }

    /// L3: each flood's steady figures against the same server unloaded, and its onset.
    pub(super) fn flood_rows(&self) -> Vec<Row> {
        let (c, s) = (self.congvu, self.slapd);
        let mut rows = Vec::new();
        let floods = [
            (
                "L3",
                "congvu, flood from one address",
                c,
                c.map(|f| &f.flood_one),
                true,
            ),
            (
                "L3b",
                "congvu, flood from 1 loopback address per connection",
                c,
                c.and_then(|f| f.flood_many.as_ref()),
                true,
            ),
            (
                "L3 (slapd)",
                "slapd, flood from one address",
                s,
                s.map(|f| &f.flood_one),
                false,
            ),
        ];
        for (id, label, figures, flood, targeted) in floods {
            rows.extend(self.flood_group(id, label, figures.map(|f| &f.searches), flood, targeted));
        }
        rows
    }

    /// The four rows of one flood: steady throughput kept, p99, the bystander's bind, and the
    /// flood's onset; `targeted` says whether the targets apply (congvu) or are shown in
    /// brackets (slapd).
    pub(super) fn flood_group(
        &self,
        id: &'static str,
        label: &str,
        unloaded: Option<&Run>,
        flood: Option<&FloodRun>,
        targeted: bool,
    ) -> Vec<Row> {
        let mut group = Vec::with_capacity(4);
        let steady = flood.map(|f| &f.searches);
        let onset = flood.map(|f| &f.onset);
        let kept = ratio(steady.map(|r| r.per_second), unloaded.map(|r| r.per_second));
        let (target, p99_target) = if targeted {
            ("≥ 0.8×", "≤ 10 ms")
        } else {
            ("(≥ 0.8×)", "(≤ 10 ms)")
        };
        group.push(Row {
            id,
            what: format!("{label}: searches/s, steady, vs unloaded"),
            ours: steady.map(per_second),
            reference: unloaded.map(per_second),
            ratio: kept.map(times),
            target,
            met: kept.filter(|_| targeted).map(|r| r >= 0.8),
            invalid: wrong(&[steady, unloaded]),
        });
        group.push(Row {
            id,
            what: "p99 search latency, steady flood (unloaded p99)".into(),
            ours: steady.map(|r| format!("{:.2} ms", r.p99_ms)),
            reference: unloaded.map(|r| format!("{:.2} ms", r.p99_ms)),
            ratio: None,
            target: p99_target,
            met: steady.filter(|_| targeted).map(|r| r.p99_ms <= 10.0),
            invalid: wrong(&[steady]),
        });
        group.push(Row {
            id,
            what: "a correct bind from another address during the steady flood".into(),
            ours: flood.map(|f| f.bystander.summary()),
            reference: None,
            ratio: None,
            target: "—",
            met: None,
            invalid: 0,
        });
        group.push(Row {
            id,
            what: format!(
                "the flood's first {} s: searches/s (p99) vs unloaded",
                self.args.flood_warmup
            ),
            ours: onset.map(|r| format!("{} ({:.1} ms)", per_second(r), r.p99_ms)),
            reference: unloaded.map(per_second),
            ratio: ratio(onset.map(|r| r.per_second), unloaded.map(|r| r.per_second)).map(times),
            target: "—",
            met: None,
            invalid: wrong(&[onset]),
        });
        group
    }

    /// One flood against one server, in a sentence or three.
    pub(super) fn flood_details(&self, f: &Figures, label: &str, flood: &FloodRun) -> String {
        let seconds = self.args.seconds as f64;
        let mut out = format!(
            " Flood {label}, steady: {:.0} wrong-password binds answered per second \
             ({} invalidCredentials, {} other results), server CPU {:.2} cores",
            flood.binds_per_second,
            flood.invalid_credentials,
            flood.other,
            flood.searches.server_cores
        );
        // What a bind answered without hashing cost: the server's CPU less its searches at
        // the unloaded price, per bind. Where binds were hashed, searches also got dearer
        // (argon2 evicts their caches), so no estimate is given.
        if flood.binds_per_second > 2000.0 / self.verify_ms {
            let flood_cpu = flood.searches.server_cores * seconds
                - flood.searches.per_second * seconds * f.searches.cpu_us_per_op / 1e6;
            out.push_str(&format!(
                ", so ≈ {:.0} µs per flood bind (estimated: the server CPU less the searches \
                 at their unloaded cost)",
                flood_cpu.max(0.0) * 1e6 / (flood.binds_per_second * seconds)
            ));
        }
        out.push_str(&format!(
            "; {} flood connections broke and were reopened{}; the server stayed busy {:.1} s \
             after the flood stopped.",
            flood.reconnects,
            flood
                .first_break
                .as_deref()
                .map(|why| format!(" (first: {why})"))
                .unwrap_or_default(),
            flood.drain.as_secs_f64()
        ));
        out
    }

    /// The figures behind the table that explain it.
    pub(super) fn details(&self) -> String {
        let mut out = String::from("\n");
        for (name, figures) in [("congvu", self.congvu), ("slapd", self.slapd)] {
            let Some(f) = figures else { continue };
            out.push_str(&format!(
                "- {name}: unloaded searches p50 {:.2} ms, p99 {:.2} ms, client CPU {:.0} µs per search; \
                 L2 used {:.1} ms of server CPU per bind.",
                f.searches.p50_ms,
                f.searches.p99_ms,
                f.searches.client_cpu_us_per_op,
                f.binds.cpu_us_per_op / 1000.0
            ));
            for (label, flood) in [
                ("from one address", Some(&f.flood_one)),
                ("from many addresses", f.flood_many.as_ref()),
            ] {
                if let Some(flood) = flood {
                    out.push_str(&self.flood_details(f, label, flood));
                }
            }
            out.push('\n');
        }
        let busy: Vec<String> = [("congvu", self.congvu), ("slapd", self.slapd)]
            .into_iter()
            .filter(|_| self.pinned)
            .filter_map(|(name, f)| f.map(|f| (name, f.searches.server_cores)))
            .filter(|(_, cores)| *cores < 0.9)
            .map(|(name, cores)| format!("{name} {cores:.2}"))
            .collect();
        if !busy.is_empty() {
            out.push_str(&format!(
                "- L1 caution: the server kept fewer than 0.9 of its core busy ({}), so the client or other\n  \
                 work on the machine set that rate: the throughput ratio is not a server figure this run; CPU per search still is.\n",
                busy.join(", ")
            ));
        }
        out.push_str(&format!(
            "- One argon2id verification at m=19456 KiB, t=2, p=1 takes {:.1} ms on one core of this machine\n  \
             (the `argon2` crate congvu uses, measured in this run): one core verifies at most ≈ {:.0} binds/s.\n",
            self.verify_ms,
            1000.0 / self.verify_ms
        ));
        out.push_str(&format!(
            "- L3: congvu's per-source throttle (`[auth] lockout_source_failures`, default 50 failures within\n  \
             `lockout_window_seconds`) answers binds from a flooding address without hashing once it engages:\n  \
             that is the designed defence, and the L3 rows, with the flood from one address, show it. L3b spreads\n  \
             the same flood over {flood} loopback addresses, each below the threshold, so every wrong password costs\n  \
             congvu a full argon2id verification, as every one costs slapd, which has no such throttle. The flood\n  \
             names the {binders} bind-test officials in turn (the accounts with a full-cost hash on both servers),\n  \
             a few failures each, below the per-account lockout (`lockout_failures`, default 10).\n",
            flood = self.args.flood,
            binders = self.args.bind_users
        ));
        for (name, figures) in [("congvu", self.congvu), ("slapd", self.slapd)] {
            let Some(f) = figures else { continue };
            let mut runs = vec![
                ("L2", &f.binds),
                ("L1", &f.searches),
                ("L3", &f.flood_one.searches),
                ("L3 onset", &f.flood_one.onset),
            ];
            if let Some(many) = &f.flood_many {
                runs.extend([("L3b", &many.searches), ("L3b onset", &many.onset)]);
            }
            for (id, run) in runs {
                if let Some(first) = &run.first_wrong {
                    out.push_str(&format!(
                        "- {name} {id}: {} wrong answers, the first: {first}\n",
                        run.wrong
                    ));
                }
            }
        }
        out
    }
}

/// Wrong answers behind some runs.
pub(super) fn wrong(runs: &[Option<&Run>]) -> u64 {
    runs.iter().flatten().map(|r| r.wrong).sum()
}
