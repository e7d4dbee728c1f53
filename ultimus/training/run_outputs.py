"""What a finished (or diverged) run leaves besides its checkpoint and history: the figures of
``ultimus.diagnostics.figures``, attention.png, gradient_flow.png, and report.md that links them all."""
import numpy

from ultimus.data.datasets import balanced_subset
from ultimus.data.loaders import make_train_transform
from ultimus.diagnostics import figures
from ultimus.diagnostics.attention import save_attention, summarize_attention
from ultimus.diagnostics.gradient_flow import save_gradient_flow
from ultimus.training.report import write_report
from ultimus.training.run_directory import output_path


def what_is_kept(data, mean, std, predictions, config, history):
    """After a divergence: draw the figures of the finished epochs, and say what is left on disk."""
    if not history.records:
        return "no epoch finished, so there is nothing to keep"
    save_figures(data, mean, std, predictions, config, history, note=f"Diverged after epoch {history.records[-1].epoch}.")
    return f"the checkpoint, history and figures of epoch {history.records[-1].epoch} are kept in {config.out}"


def save_run_outputs(model, eval_loader, data, mean, std, predictions, config, history):
    """Every figure of a finished run and its report: attention.png of ``model`` over ``eval_loader``,
    then :func:`save_figures`."""
    save_attention_figure(model, eval_loader, data, config.out)
    save_figures(data, mean, std, predictions, config, history)


def save_attention_figure(model, eval_loader, data, out, shown=4):
    """attention.png: the attention maps of ``model`` over the eval split (one more pass over it),
    with ``shown`` single images of different classes."""
    singles = balanced_subset(data.eval_labels, min(shown, len(data.eval_labels)), seed=0)
    summary = summarize_attention(model, eval_loader, len(data.classes), singles)
    save_attention(summary, data.eval_images[singles], data.classes, output_path(out, "attention.png"))


def save_figures(data, mean, std, predictions, config, history, note=None):
    """The figures of the finished epochs: augmented samples, curves, the gradient flow when
    recorded and, when there are ``predictions``, the misclassified eval images and the confusion
    matrix; then report.md, with ``note`` first. The attention maps need a model that has not
    diverged: see :func:`save_attention_figure`."""
    out = config.out
    shown = balanced_subset(data.train_labels, min(32, len(data.train_labels)), seed=0)  # the archive is ordered by class
    augment = make_train_transform(mean, std, config, numpy.random.default_rng(config.seed))
    samples, labels = augment((data.train_images[shown], data.train_labels[shown]))
    figures.save_sample_grid(samples, labels, data.classes, output_path(out, "augmented_samples.png"), mean=mean, std=std)
    figures.save_history_curves(history, output_path(out, "curves.png"))
    if history.gradient_flow and history.gradient_flow["steps"]:  # a resumed older run may have none
        save_gradient_flow(history.gradient_flow, output_path(out, "gradient_flow.png"))
    if predictions is not None:  # None: a resumed run that diverged before evaluating anything
        save_evaluation_figures(data, predictions, out)
    write_report(out, config, history, data.eval_labels, predictions, data.classes, note)


def save_evaluation_figures(data, predictions, out):
    """misclassified.png and confusion_matrix.png of ``predictions`` (N,) over the eval split."""
    # The archive is ordered by class: shuffle, so that the first misclassified images span the classes.
    order = numpy.random.default_rng(0).permutation(len(data.eval_labels))
    figures.save_misclassified(data.eval_images[order], data.eval_labels[order], predictions[order], data.classes,
                               output_path(out, "misclassified.png"))
    figures.save_confusion_matrix(data.eval_labels, predictions, data.classes, output_path(out, "confusion_matrix.png"))
