"""Command line: ``mima simulate | simulate-study | train | embed | reconstruct | translate``.

Runs MIMA on a user's own data: one ``.h5mu`` or paired ``.h5ad`` files
(``--h5ad rna=rna.h5ad --h5ad adt=adt.h5ad``). Errors in the input are
reported in one line naming the file, the field and the fix, with exit
status 2 and nothing written.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import yaml

from .errors import InputError


def _data_arguments(parser: argparse.ArgumentParser, modalities_required: bool) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--h5mu", help="one MuData file holding every modality")
    source.add_argument("--h5ad", action="append", metavar="MODALITY=PATH",
                        help="one AnnData file per modality (repeat), e.g. --h5ad rna=rna.h5ad")
    parser.add_argument("--modalities", nargs="+", required=modalities_required,
                        help="modalities to use, in order (default for --h5ad: the ones given)")
    parser.add_argument("--batch-key", default="batch", help="obs column with the sample of each cell (default: batch)")
    parser.add_argument("--label-key", help="obs column with annotations, copied to the outputs as obs['label']")


def _read(args, batch_key: str, modalities: list[str] | None):
    from .data.io import read_paired

    h5ad = None
    if args.h5ad:
        h5ad = {}
        for item in args.h5ad:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise InputError("--h5ad", item, "expected MODALITY=PATH", "write e.g. --h5ad rna=rna.h5ad")
            h5ad[name] = path
    modalities = modalities or (list(h5ad) if h5ad else None)
    mdata = read_paired(h5mu=args.h5mu, h5ad=h5ad, modalities=modalities, batch_key=batch_key,
                        label_key=getattr(args, "label_key", None))
    source = args.h5mu or ", ".join(h5ad.values())
    return mdata, modalities or list(mdata.mod), source


def _load_settings(path: str | None) -> dict:
    if not path:
        return {}
    settings = yaml.safe_load(Path(path).read_text()) or {}
    unknown = set(settings) - {"model", "modalities", "train"}
    if unknown:
        raise InputError(path, ", ".join(sorted(unknown)), "unknown section", "use only model:, modalities: and train:")
    return settings


def cmd_simulate(args) -> None:
    """Write a simulated dataset (raw counts in layers['counts'], X log-normalised)."""
    from .data.atomic_write import write_h5mu_atomic
    from .data.simulate import simulate
    from .preprocess.normalize import log_normalize

    kwargs = {"seed": args.seed}
    if args.n_cells and args.kind != "spatial":
        kwargs["n_cells"] = args.n_cells
    mdata = simulate(args.kind, **kwargs)
    for adata in mdata.mod.values():
        if "counts" in adata.layers:
            adata.X = log_normalize(adata.layers["counts"])
    write_h5mu_atomic(mdata, args.out)
    print(f"wrote {args.out}: {mdata.n_obs} cells, modalities {list(mdata.mod)}")


def cmd_simulate_study(args) -> None:
    """Write stand-ins of the study's datasets in the data-mirror layout (geo/, zenodo/<record>/)."""
    from .data.simulate.standins import write_standins

    written = write_standins(args.out, args.dataset, scale=args.scale, feature_scale=args.feature_scale,
                             seed=args.seed)
    for dataset, paths in written.items():
        print(f"{dataset}: wrote {', '.join(str(p) for p in paths)}")


def cmd_train(args) -> None:
    """Train MIMA (or MIMA-Unimodal with --unimodal) and save it to --out."""
    from .api import MIMA
    from .data.io import validate_training_input

    settings = _load_settings(args.config)
    mdata, modalities, source = _read(args, args.batch_key, args.modalities)
    validate_training_input(mdata, modalities, "batch", source=source)
    train = dict(settings.get("train", {}))
    for key in ("max_epochs", "min_steps", "seed", "device", "batch_size", "lr"):
        value = getattr(args, key)
        if value is not None:
            train[key] = value
    train.setdefault("progress", not args.quiet)
    started = time.time()
    model = MIMA.from_settings(mdata, modalities, dict(settings, train=train), batch_key="batch", layer=args.layer,
                               model_overrides={"shared": False} if args.unimodal else None,
                               checkpoint_dir=args.checkpoint_dir, source=source)
    model.save(args.out)
    print(f"trained on {mdata.n_obs} cells x {modalities} in {time.time() - started:.1f} s; saved {args.out}")


def cmd_embed(args) -> None:
    """Write posterior-mean embeddings (obsm poe, private_<m>, batch_<m>)."""
    from . import __version__
    from .api import MIMA

    model = MIMA.load(args.model, device=args.device)
    mdata, _, source = _read(args, args.batch_key, args.modalities or [m for m in model.modalities])
    from .embeddings import write_embeddings

    method = {"name": "mima" if model.config.shared else "mima_unimodal", "version": __version__,
              "seed": model.seed, "parameters": model.settings()["model"]}
    prefix = "" if model.config.shared else "unimodal_"
    embeddings = {prefix + name: values for name, values in model.get_latent(mdata, source=source).items()}
    write_embeddings(args.out, mdata.obs, embeddings, method)
    print(f"wrote {args.out}")


def cmd_reconstruct(args) -> None:
    """Write denoised, batch-corrected and translated outputs (h5mu)."""
    from .api import MIMA
    from .data.atomic_write import write_h5mu_atomic

    model = MIMA.load(args.model, device=args.device)
    mdata, _, source = _read(args, args.batch_key, model.modalities)
    write_h5mu_atomic(model.outputs(mdata, source=source), args.out)
    print(f"wrote {args.out}")


def cmd_translate(args) -> None:
    """Write the translation source → target as an h5ad."""
    import anndata as ad

    from .api import MIMA
    from .data.atomic_write import write_h5ad_atomic

    model = MIMA.load(args.model, device=args.device)
    mdata, _, source = _read(args, args.batch_key, [args.source])
    values = model.translate(mdata, args.source, args.target, source=source)
    out = ad.AnnData(values, obs=mdata.obs.copy())
    out.var_names = model.feature_names[args.target]
    out.uns["translation"] = {"source": args.source, "target": args.target}
    write_h5ad_atomic(out, args.out)
    print(f"wrote {args.out}")


def build_parser() -> argparse.ArgumentParser:
    """The ``mima`` argument parser."""
    parser = argparse.ArgumentParser(prog="mima", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True)

    simulate = commands.add_parser("simulate", help="write a simulated paired dataset")
    simulate.add_argument("--kind", choices=["cite", "multiome", "spatial"], required=True)
    simulate.add_argument("--n-cells", type=int)
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--out", required=True)
    simulate.set_defaults(run=cmd_simulate)

    from .data.simulate.study import STUDY_DATASETS

    study = commands.add_parser("simulate-study",
                                help="write stand-ins of the study's datasets (published shapes and file layouts)")
    study.add_argument("--out", required=True, help="mirror folder to write (geo/, zenodo/<record>/)")
    study.add_argument("--dataset", action="append", choices=STUDY_DATASETS,
                       help="dataset to write (repeat; default: all)")
    study.add_argument("--scale", type=float, default=1.0, help="fraction of the published cells (default: 1)")
    study.add_argument("--feature-scale", type=float, default=1.0,
                       help="fraction of the published features (default: 1)")
    study.add_argument("--seed", type=int, default=0)
    study.set_defaults(run=cmd_simulate_study)

    train = commands.add_parser("train", help="train MIMA on paired data")
    _data_arguments(train, modalities_required=False)
    train.add_argument("--out", required=True, help="model folder to write")
    train.add_argument("--config", help="YAML with model:, modalities: and train: sections")
    train.add_argument("--layer", help="input layer (default: X)")
    train.add_argument("--unimodal", action="store_true", help="MIMA-Unimodal: one modality, no shared latent")
    train.add_argument("--max-epochs", type=int)
    train.add_argument("--min-steps", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", help="auto (default), cpu, cuda")
    train.add_argument("--checkpoint-dir", help="per-epoch checkpoints; an interrupted run resumes from here")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(run=cmd_train)

    for name, func, helptext in (("embed", cmd_embed, "write embeddings"),
                                 ("reconstruct", cmd_reconstruct, "write denoised / batch-corrected / translated outputs")):
        sub = commands.add_parser(name, help=helptext)
        _data_arguments(sub, modalities_required=False)
        sub.add_argument("--model", required=True)
        sub.add_argument("--device", default="auto")
        sub.add_argument("--out", required=True)
        sub.set_defaults(run=func)

    translate = commands.add_parser("translate", help="translate one modality into another")
    _data_arguments(translate, modalities_required=False)
    translate.add_argument("--model", required=True)
    translate.add_argument("--source", required=True)
    translate.add_argument("--target", required=True)
    translate.add_argument("--device", default="auto")
    translate.add_argument("--out", required=True)
    translate.set_defaults(run=cmd_translate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mima`` command."""
    import mudata

    args = build_parser().parse_args(argv)
    mudata.set_options(pull_on_update=False)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.run(args)
    except InputError as error:
        print(f"mima {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
