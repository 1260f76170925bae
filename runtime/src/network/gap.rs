//! Gap junctions: each site's `vgap` and `g` set before every step from its partners' V, and
//! the sites' V exchanged between processes.

use super::*;

/// The gap junctions of a network, by site: before every step each site's `vgap` becomes the
/// conductance-weighted mean of its partners' V (NEURON's transfer of V before the currents),
/// and its compartment's current is recomputed. The site's `g` is the sum of its junctions'
/// (set when the model was built), so it carries the sum of their currents.
///
/// Every process knows every junction. The sites are numbered alike in all of them (by cell
/// id and point); before each step every process reads the V of the sites it steps, and with
/// several processes they exchange those values, each process's in the order of its sites. Every
/// process then has the V of every site, and sets the `vgap` of its own.
pub(super) struct GapCoupling {
    /// Per site (global numbering): its V at the start of the step.
    pub(super) v: Vec<f64>,
    /// Per process, the sites it steps, in the order it sends their V.
    pub(super) by_process: Vec<Vec<u32>>,
    /// This process's sites in runs that keep V and `vgap` in the same slot arrays:
    /// (population, region, vgap slot, a range of `own`).
    pub(super) groups: Vec<(usize, usize, usize, std::ops::Range<usize>)>,
    /// This process's sites, grouped as `groups` says: (site, compartment, Σg).
    pub(super) own: Vec<(u32, u32, f64)>,
    /// Own site k's partners are `partners[partner_start[k]..partner_start[k + 1]]`: the
    /// partner's site and the junction's conductance.
    pub(super) partner_start: Vec<u32>,
    pub(super) partners: Vec<(u32, f64)>,
    /// The own sites' compartments by (population, region).
    pub(super) by_region: std::collections::BTreeMap<(usize, usize), Vec<usize>>,
    /// Each step's new `vgap` per own site (kept between steps for its memory).
    pub(super) vgap: Vec<f64>,
}

/// One of this process's sites while the coupling is built.
pub(super) struct OwnSite {
    pub(super) population: usize,
    pub(super) region: usize,
    pub(super) vgap_slot: usize,
    /// Its compartment in the region's slot arrays.
    pub(super) at: usize,
    /// The sum of its junctions' conductances, and each junction's partner site and g.
    pub(super) g_total: f64,
    pub(super) partners: Vec<(u32, f64)>,
}

impl GapCoupling {
    pub(super) fn new(
        network: &Network,
        populations: &[Option<CellPopulation>],
        owned: &[std::ops::Range<u64>],
        (rank, processes): (usize, usize),
    ) -> Result<GapCoupling, String> {
        let mut coupling = GapCoupling {
            v: Vec::new(),
            by_process: vec![Vec::new(); processes],
            groups: Vec::new(),
            own: Vec::new(),
            partner_start: vec![0],
            partners: Vec::new(),
            by_region: Default::default(),
            vgap: Vec::new(),
        };
        if network.gaps.is_empty() {
            return Ok(coupling);
        }
        // Every site, numbered in (cell, point) order, and the process that steps its cell.
        let mut sites: Vec<(u64, u32)> = (network.gaps.iter())
            .flat_map(|j| [(j.a, j.site_a), (j.b, j.site_b)])
            .collect();
        sites.sort_unstable();
        sites.dedup();
        let number = |key: (u64, u32)| sites.binary_search(&key).expect("every site is listed");
        // The other processes' sites, each listed once under the process that steps it.
        for (number, &(gid, _)) in sites.iter().enumerate() {
            let Some((k, cell)) = network.locate(gid) else {
                continue;
            };
            let count = network.populations[k].count;
            let owner =
                (0..processes).find(|&r| distributed::owned(count, r, processes).contains(&cell));
            if let Some(r) = owner.filter(|&r| r != rank) {
                coupling.by_process[r].push(number as u32);
            }
        }
        let mut mine: std::collections::BTreeMap<u32, OwnSite> = Default::default();
        // Each (population, point)'s vgap slot, checked once.
        let mut vgap_slots: std::collections::HashMap<(usize, u32), usize> = Default::default();
        for j in &network.gaps {
            for (here, there) in [
                ((j.a, j.site_a), (j.b, j.site_b)),
                ((j.b, j.site_b), (j.a, j.site_a)),
            ] {
                let Some((k, cell)) = network.locate(here.0) else {
                    return Err(format!("gap junction site of cell {} is no cell", here.0));
                };
                if !owned[k].contains(&cell) {
                    continue;
                }
                let Some(pop) = populations[k].as_ref() else {
                    return Err(format!(
                        "cell {} of a gap junction is not a cell with a membrane",
                        here.0
                    ));
                };
                let point = here.1;
                let region = match pop.points.get(point as usize) {
                    Some(p) => p.region,
                    None => return Err(format!("gap junction of cell {} has no site", here.0)),
                };
                let vgap_slot = match vgap_slots.get(&(k, point)) {
                    Some(&slot) => slot,
                    None => {
                        let mechanism = &pop.point_mechanisms[point as usize];
                        let site =
                            hhc_compiler::sema::network::gap_site(mechanism).map_err(|why| {
                                format!("{} is not a gap junction: {why}", mechanism.name)
                            })?;
                        let slot = pop.regions[region]
                            .point_param_slot(point as usize, mechanism, site.vgap)
                            .ok_or_else(|| {
                                format!(
                                    "the gap junction site of cell {} keeps no vgap per cell",
                                    here.0
                                )
                            })?;
                        vgap_slots.insert((k, point), slot);
                        slot
                    }
                };
                let local = (cell - pop.offset) as usize;
                let at = cable::compartment(local, 0, 1, pop.n, pop.chunk_cells);
                let site = mine.entry(number(here) as u32).or_insert_with(|| OwnSite {
                    population: k,
                    region,
                    vgap_slot,
                    at,
                    g_total: 0.0,
                    partners: Vec::new(),
                });
                site.g_total += j.g;
                site.partners.push((number(there) as u32, j.g));
            }
        }
        // Own sites grouped by where they live: (population, region, vgap slot), then cell.
        let mut own: Vec<(u32, OwnSite)> = mine.into_iter().collect();
        // What this process sends: its sites' V by site number, as the others list them.
        coupling.by_process[rank] = own.iter().map(|&(number, _)| number).collect();
        // Within a group, by how many partners a site has: the loop over them then ends
        // after the same count site after site, which the branch predictor follows.
        own.sort_by_key(|(_, s)| (s.population, s.region, s.vgap_slot, s.partners.len(), s.at));
        for (number, site) in own {
            let index = coupling.own.len();
            let place = (site.population, site.region, site.vgap_slot);
            match coupling.groups.last_mut() {
                Some((gk, gr, gs, range)) if (*gk, *gr, *gs) == place => range.end = index + 1,
                _ => (coupling.groups).push((place.0, place.1, place.2, index..index + 1)),
            }
            coupling.own.push((number, site.at as u32, site.g_total));
            coupling.partners.extend(site.partners);
            (coupling.partner_start).push(coupling.partners.len() as u32);
            (coupling.by_region)
                .entry((site.population, site.region))
                .or_default()
                .push(site.at);
        }
        coupling.v = vec![f64::NAN; sites.len()];
        Ok(coupling)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.v.is_empty()
    }

    /// Sets every site's `vgap` from its partners' V now, and recomputes its current at `t`
    /// (the coming step's midpoint, NEURON's time for BREAKPOINT). Every process calls it at
    /// every step when the network has gap junctions.
    pub(super) fn couple(
        &mut self,
        populations: &mut [Option<CellPopulation>],
        t: f64,
        exchange: &dyn Exchange,
    ) {
        if self.is_empty() {
            return;
        }
        // The V of this process's sites.
        for &(k, r, _, ref range) in &self.groups {
            if let Some(pop) = populations[k].as_ref() {
                let v = &pop.regions[r].slots[0];
                for &(site, at, _) in &self.own[range.clone()] {
                    self.v[site as usize] = v[at as usize];
                }
            }
        }
        // ... and every other process's.
        if self.by_process.len() > 1 {
            let mut mine = Writer::default();
            for &site in &self.by_process[exchange.rank()] {
                mine.f64(self.v[site as usize]);
            }
            for (r, bytes) in exchange.all_gather(&mine.bytes).iter().enumerate() {
                let mut values = Reader::new(bytes);
                if r != exchange.rank() {
                    for &site in &self.by_process[r] {
                        self.v[site as usize] = values.f64();
                    }
                }
            }
        }
        // Each own site's new vgap, in parallel when there are many (each sum in the same
        // order on any thread count).
        let (v, partners) = (&self.v, &self.partners);
        let vgap_of = |range: &[u32], g_total: f64| {
            let mut sum = 0.0;
            for &(site, g) in &partners[range[0] as usize..range[1] as usize] {
                sum += g * v[site as usize];
            }
            sum / g_total
        };
        if self.own.len() < 2 * GAP_SITES_PER_TASK {
            // A plain loop: rayon's iterator costs more than the sums here.
            self.vgap.clear();
            let sites = self.partner_start.windows(2).zip(&self.own);
            self.vgap
                .extend(sites.map(|(range, s)| vgap_of(range, s.2)));
        } else {
            (self.partner_start.par_windows(2).zip(&self.own))
                .with_min_len(GAP_SITES_PER_TASK)
                .map(|(range, s)| vgap_of(range, s.2))
                .collect_into_vec(&mut self.vgap);
        }
        for (k, r, slot, range) in &self.groups {
            if let Some(pop) = populations[*k].as_mut() {
                let vgap = &mut pop.regions[*r].slots[*slot];
                let own = self.own[range.clone()].iter();
                for (&(_, at, g_total), &x) in own.zip(&self.vgap[range.clone()]) {
                    // A site whose junctions all have g = 0 keeps the vgap it was given.
                    if g_total > 0.0 {
                        vgap[at as usize] = x;
                    }
                }
            }
        }
        // The sites' currents again: per region, its whole row at once when most of its
        // compartments are sites, else one by one.
        for (&(k, r), sites) in &self.by_region {
            let Some(pop) = populations[k].as_mut() else {
                continue;
            };
            let region = &mut pop.regions[r];
            let compartments = region.slots[0].len();
            let view = cable::RegionView::new(region);
            if sites.len() * 4 >= compartments {
                view.recompute(0..compartments, t);
            } else {
                for &at in sites {
                    view.recompute(at..at + 1, t);
                }
            }
        }
    }
}
