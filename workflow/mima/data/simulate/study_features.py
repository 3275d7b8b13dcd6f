"""Names and layouts of the MIMA study stand-ins (:mod:`mima.data.simulate.study`).

Everything here that names a feature or a cell follows the published files:
NeurIPS 2021 BMMC cell types and donors, gene symbols, CITE-seq antibody
names, ``chrN-start-end`` ATAC peaks placed so that their midpoints fall into
an exact number of 5 kb bins, ``"702.544"``-style m/z labels, Visium barcodes
and Visium-like spot grids with contiguous tissue annotations.
"""

from __future__ import annotations

import numpy as np

#: NeurIPS 2021 BMMC donors (obs ``batch``) of the GEO files.
CITE_BATCHES = ("s1d1", "s1d2", "s1d3", "s2d1", "s2d4", "s2d5", "s3d1", "s3d6", "s3d7", "s4d1", "s4d8", "s4d9")
MULTIOME_BATCHES = ("s1d1", "s1d2", "s1d3", "s2d1", "s2d4", "s2d5", "s3d10", "s3d3", "s3d6", "s3d7", "s4d1",
                    "s4d8", "s4d9")

# (cell type, lineage, relative abundance): the CITE-seq annotation, very imbalanced (a few under 0.1 %).
CITE_CELL_TYPES = (
    ("CD14+ Mono", "myeloid", 210), ("CD4+ T naive", "T", 90), ("CD4+ T activated", "T", 60),
    ("CD8+ T", "T", 55), ("NK", "NK", 45), ("Naive CD20+ B IGKC+", "B", 35), ("Erythroblast", "erythroid", 40),
    ("CD8+ T naive", "T", 30), ("CD16+ Mono", "myeloid", 30), ("Naive CD20+ B IGKC-", "B", 25),
    ("G/M prog", "progenitor", 22), ("Reticulocyte", "erythroid", 20), ("pDC", "DC", 15), ("B1 B IGKC+", "B", 15),
    ("B1 B IGKC-", "B", 12), ("Normoblast", "erythroid", 12), ("Proerythroblast", "erythroid", 12),
    ("CD8+ T CD57+ CD45RO+", "T", 12), ("CD8+ T CD57+ CD45RA+", "T", 11), ("CD8+ T TIGIT+ CD45RO+", "T", 9),
    ("CD4+ T activated integrinB7+", "T", 9), ("CD8+ T TIGIT+ CD45RA+", "T", 8), ("HSC", "progenitor", 8),
    ("cDC2", "DC", 8), ("MAIT", "T", 8), ("gdT TCRVD2+", "T", 7), ("T reg", "T", 7), ("MK/E prog", "progenitor", 7),
    ("Transitional B", "B", 6), ("CD8+ T CD69+ CD45RO+", "T", 6), ("CD8+ T CD49f+", "T", 5),
    ("NK CD158e1+", "NK", 5), ("Lymph prog", "progenitor", 5), ("CD4+ T CD314+ CD45RA+", "T", 4),
    ("CD8+ T CD69+ CD45RA+", "T", 4), ("dnT", "T", 3), ("gdT CD158b+", "T", 3), ("ILC", "NK", 3),
    ("Plasma cell IGKC+", "plasma", 3), ("CD8+ T naive CD127+ CD26- CD101-", "T", 2),
    ("Plasma cell IGKC-", "plasma", 2),
    ("T prog cycling", "progenitor", 1), ("ID2-hi myeloid prog", "progenitor", 1), ("Plasmablast IGKC+", "plasma", 0.5),
    ("Plasmablast IGKC-", "plasma", 0.3),
)
# The multiome annotation: 22 coarser types.
MULTIOME_CELL_TYPES = (
    ("CD14+ Mono", "myeloid", 150), ("CD8+ T", "T", 90), ("CD4+ T naive", "T", 70), ("Erythroblast", "erythroid", 60),
    ("CD4+ T activated", "T", 55), ("NK", "NK", 40), ("Naive CD20+ B", "B", 35), ("Proerythroblast", "erythroid", 30),
    ("CD16+ Mono", "myeloid", 25), ("Normoblast", "erythroid", 22), ("G/M prog", "progenitor", 20),
    ("B1 B", "B", 18), ("HSC", "progenitor", 16), ("Transitional B", "B", 12), ("pDC", "DC", 10),
    ("CD8+ T naive", "T", 10), ("MK/E prog", "progenitor", 8), ("Lymph prog", "progenitor", 6), ("cDC2", "DC", 6),
    ("ILC", "NK", 3), ("Plasma cell", "plasma", 2), ("ID2-hi myeloid prog", "progenitor", 1),
)

#: Prostate tissue classes: (class, relative area in cancer samples, in normal samples). Every one of
#: config.yaml's ``exclude_labels`` is among them.
TISSUE_CLASSES = (
    ("stroma", 30, 40), ("benign epithelium", 10, 25), ("tumour ISUP 1", 8, 0), ("tumour ISUP 2", 3, 0),
    ("tumour ISUP 3", 8, 0), ("tumour ISUP 4", 2, 0), ("tumour ISUP 5", 4, 0), ("PIN", 2, 2), ("immune", 4, 5),
    ("blood vessel", 3, 4), ("nerve", 1, 1), ("necrosis", 1, 0), ("other", 2, 2), ("unlabelled", 3, 3),
)
#: The study's patients; PWB929, PWB931 and PWB941 are named by config.yaml's figures.
PATIENTS = ("PWB929", "PWB931", "PWB932", "PWB935", "PWB937", "PWB940", "PWB941", "PWB943")

_GENE_MARKERS = (
    "NEFH", "CD14", "LYZ", "S100A8", "S100A9", "FCGR3A", "CD3E", "CD3D", "CD4", "CD8A", "CD8B", "IL7R", "CCR7",
    "NKG7", "GNLY", "KLRD1", "MS4A1", "CD79A", "CD79B", "IGKC", "IGHM", "JCHAIN", "MZB1", "HBB", "HBA1", "GATA1",
    "KLF1", "CD34", "MPO", "ELANE", "IRF8", "LILRA4", "CLEC4C", "FCER1A", "CD1C", "FOXP3", "TRDC", "KLRB1", "MKI67",
    "TOP2A", "ACTB", "GAPDH", "MALAT1", "KLK3", "KLK2", "AR", "NKX3-1", "TMPRSS2", "AMACR", "ERG", "ACPP", "MSMB",
    "KRT5", "KRT8", "KRT18", "TP63", "MYH11", "ACTA2", "DES", "VIM", "COL1A1", "COL3A1", "PECAM1", "VWF", "PTPRC",
    "NEFL", "NEFM", "S100B", "PLP1", "MPZ", "SPP1", "APOE", "MT-CO1", "MT-ND1", "RPL13", "RPS27",
)
_GENE_FAMILIES = ("ZNF", "SLC", "TMEM", "CCDC", "FAM", "KIAA", "LINC", "RPL", "RPS", "ANKRD", "KLHL", "PRR",
                  "LRRC", "WDR", "ZBTB", "TRIM", "DNAJC", "ARHGAP", "RNF", "SNORD", "MIR", "OR", "C1orf", "C2orf")
_ADT_MARKERS = (
    "CD86", "CD274", "CD270", "CD155", "CD112", "CD47", "CD48", "CD40", "CD154", "CD52", "CD3", "CD8", "CD56", "CD19",
    "CD33", "CD11c", "HLA-A-B-C", "CD45RA", "CD123", "CD7", "CD105", "CD49f", "CD194", "CD4", "CD44", "CD14", "CD16",
    "CD25", "CD45RO", "CD279", "TIGIT", "Mouse-IgG1", "Mouse-IgG2a", "Mouse-IgG2b", "Rat-IgG2b", "CD20", "CD335",
    "CD31", "Podoplanin", "CD146", "IgM", "CD5", "CD195", "CD32", "CD196", "CD185", "CD103", "CD69", "CD62L", "CD161",
    "CD152", "CD223", "KLRG1", "CD27", "CD107a", "CD95", "CD134", "HLA-DR", "CD1c", "CD11b", "CD64", "CD141", "CD1d",
    "CD314", "CD35", "CD57", "CD272", "CD278", "CD58", "CD39", "CX3CR1", "CD24", "CD21", "CD11a", "CD79b", "CD244",
    "CD169", "integrinB7", "CD268", "CD42b", "CD54", "CD62P", "CD119", "TCR", "Rat-IgG1", "Rat-IgG2a", "CD192",
    "CD122", "FceRIa", "CD41", "CD137", "CD163", "CD83", "CD124", "CD13", "CD2", "CD226", "CD29", "CD303", "CD49b",
    "CD81", "IgD", "CD18", "CD28", "CD38", "CD127", "CD45", "CD22", "CD71", "CD26", "CD115", "CD63", "CD304", "CD36",
    "CD172a", "CD72", "CD158", "CD93", "CD49a", "CD49d", "CD73", "CD9", "TCRVa7.2", "TCRVd2", "LOX-1", "CD158b",
    "CD158e1", "CD142", "CD319", "CD352", "CD94", "CD162", "CD85j", "CD23", "CD328", "HLA-E", "CD82", "CD101", "CD88",
)
# GRCh38 chromosome lengths (bp).
_CHROM_LENGTHS = {
    "chr1": 248_956_422, "chr2": 242_193_529, "chr3": 198_295_559, "chr4": 190_214_555, "chr5": 181_538_259,
    "chr6": 170_805_979, "chr7": 159_345_973, "chr8": 145_138_636, "chr9": 138_394_717, "chr10": 133_797_422,
    "chr11": 135_086_622, "chr12": 133_275_309, "chr13": 114_364_328, "chr14": 107_043_718, "chr15": 101_991_189,
    "chr16": 90_338_345, "chr17": 83_257_441, "chr18": 80_373_285, "chr19": 58_617_616, "chr20": 64_444_167,
    "chr21": 46_709_983, "chr22": 50_818_468, "chrX": 156_040_895, "chrY": 57_227_415,
}
#: The m/z label the study's translation map shows; always among the MSI features.
MSI_MARKER = "702.544"


def gene_names(rng, n_genes: int, exclude=()) -> list[str]:
    """``n_genes`` unique gene symbols in random order: the marker genes (NEFH first) then family-numbered ones."""
    markers = [g for g in _GENE_MARKERS if g not in set(exclude)]
    fill = [f"{family}{number}" for number in range(1, 1000) for family in _GENE_FAMILIES]
    names = list(dict.fromkeys(markers + fill))[:max(n_genes, 1)]
    if n_genes > len(names):
        names += [f"GENE{i}" for i in range(n_genes - len(names))]
    return [names[i] for i in rng.permutation(len(names))]


def protein_names(n_proteins: int) -> list[str]:
    """CITE-seq antibody names (TotalSeq panel style), padded with ``ADT<i>`` beyond the panel."""
    names = list(_ADT_MARKERS[:n_proteins])
    return names + [f"ADT{i}" for i in range(n_proteins - len(names))]


def mz_names(rng, n_features: int) -> list[str]:
    """Sorted unique m/z labels (``"%.3f"``, 150-1000 Da) that include :data:`MSI_MARKER`."""
    marker = round(float(MSI_MARKER) * 1000)
    milli = rng.choice(np.arange(150_000, 1_000_000), size=n_features, replace=False)
    if marker not in milli:
        milli[0] = marker
    return [f"{m / 1000:.3f}" for m in np.sort(milli)]


def peak_names(rng, n_peaks: int, n_bins: int, bin_size: int = 5000) -> list[str]:
    """Sorted ``chrN-start-end`` peaks whose midpoints fall into exactly ``n_bins`` distinct bins.

    ``n_bins`` bins are drawn across GRCh38 (proportionally to chromosome length);
    each gets one peak plus a multinomial share of the remaining ``n_peaks - n_bins``.
    A bin of ``k`` peaks is cut into ``k`` equal slots and each peak (150-1000 bp)
    sits inside its slot, so peaks never overlap and each midpoint lies in its bin.
    """
    if not 1 <= n_bins <= n_peaks:
        raise ValueError(f"need 1 <= n_bins <= n_peaks, got {n_bins} bins for {n_peaks} peaks")
    chroms = list(_CHROM_LENGTHS)
    lengths = np.array([_CHROM_LENGTHS[c] for c in chroms], dtype=np.float64)
    per_chrom = rng.multinomial(n_bins, lengths / lengths.sum())
    chrom_of_bin = np.repeat(np.arange(len(chroms)), per_chrom)
    # start at bin 2 (10 kb) as real peak sets do; bins are sorted within each chromosome
    bin_index = np.concatenate([np.sort(rng.choice(np.arange(2, int(length) // bin_size), n, replace=False))
                                for length, n in zip(lengths, per_chrom)])
    per_bin = 1 + rng.multinomial(n_peaks - n_bins, np.full(n_bins, 1.0 / n_bins))
    bin_of_peak = np.repeat(np.arange(n_bins), per_bin)
    slot = np.arange(n_peaks) - np.repeat(np.cumsum(per_bin) - per_bin, per_bin)
    slot_width = bin_size / per_bin[bin_of_peak]
    width = np.minimum(rng.integers(150, 1001, n_peaks), (0.9 * slot_width).astype(np.int64))
    middle = bin_index[bin_of_peak] * bin_size + ((slot + 0.5) * slot_width).astype(np.int64)
    start = middle - width // 2
    end = start + width
    names = np.asarray(chroms, dtype=object)[chrom_of_bin[bin_of_peak]]
    return [f"{c}-{s}-{e}" for c, s, e in zip(names, start, end)]


def barcodes(rng, n: int, suffix: str) -> list[str]:
    """``n`` distinct 16-base barcodes ``ACGT...-<suffix>`` (10x style)."""
    codes = rng.choice(4**16, size=n, replace=False)
    digits = (codes[:, None] // (4 ** np.arange(15, -1, -1))) % 4
    letters = np.asarray(list("ACGT"))[digits]
    return [f"{''.join(row)}-{suffix}" for row in letters]


def apportion(total: int, weights, minimum: int = 0) -> np.ndarray:
    """Integers proportional to ``weights`` summing exactly to ``total`` (largest remainder), each >= ``minimum``."""
    weights = np.asarray(weights, dtype=np.float64)
    rest = total - minimum * weights.size
    if rest < 0:
        raise ValueError(f"{total} cannot give {weights.size} groups {minimum} each")
    share = rest * weights / weights.sum()
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(counts - share, kind="stable")[:rest - counts.sum()]] += 1
    return counts + minimum


def visium_spots(rng, n_spots: int) -> np.ndarray:
    """``n_spots`` contiguous spots of a Visium capture area (hexagonal, 78 rows x 128 columns).

    Returns (x, y) positions in micrometres (100 um between neighbouring spot centres): the
    spots nearest to a random centre under a random elliptical metric, i.e. one tissue section.
    """
    rows, cols = np.meshgrid(np.arange(78), np.arange(128), indexing="ij")
    keep = (rows + cols) % 2 == 0  # Visium's hexagonal layout: every other column per row
    xy = np.column_stack([cols[keep] * 50.0, rows[keep] * 50.0 * np.sqrt(3.0)])
    centre = xy.mean(axis=0) + rng.normal(0, 300, 2)
    angle, ratio = rng.uniform(0, np.pi), rng.uniform(0.6, 1.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    d = (xy - centre) @ rotation
    order = np.argsort(d[:, 0] ** 2 + (d[:, 1] / ratio) ** 2, kind="stable")
    return xy[np.sort(order[:n_spots])].astype(np.float32)


def tissue_annotation(rng, xy: np.ndarray, cancer: bool, forced: tuple[int, ...] = ()) -> np.ndarray:
    """Class codes (into :data:`TISSUE_CLASSES`) of one section: contiguous patches around random seeds.

    Each spot takes the class of its nearest seed; seeds sit on spots, so every
    seed's class (the ``forced`` ones included) labels at least one spot.
    """
    n_seeds = min(len(xy), int(np.clip(len(xy) / 60, 4, 45)))
    area = np.array([c[1] if cancer else c[2] for c in TISSUE_CLASSES], dtype=np.float64)
    seeds = rng.choice(len(xy), size=n_seeds, replace=False)
    seed_class = rng.choice(len(TISSUE_CLASSES), size=n_seeds, p=area / area.sum())
    forced = forced[:n_seeds]
    seed_class[:len(forced)] = forced
    d = ((xy[:, None, :] - xy[seeds][None, :, :]) ** 2).sum(axis=2)
    return seed_class[np.argmin(d, axis=1)]
