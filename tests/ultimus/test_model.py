"""The Ultimus network: the assignment's parameter count and layer table, its stages and their
state_dict keys, attention semantics, gradients."""
import importlib.util
import math
import pathlib

import numpy
import pytest
from helpers import REPOSITORY

import minigrad
from minigrad import Tensor
from minigrad.graph import ops_in_forward_order
from minigrad.nn import summary
from ultimus.model import SCALINGS, Ultimus, UltimusNet

ASSIGNMENT_TABLE = pathlib.Path(__file__).with_name("assignment_layer_table.txt")

# Initial parameters for manual_seed(0), recorded once from the network built as parallel lists of
# convolutions and norms: (first entry, last entry, sum). Every recorded run starts from these.
INITIAL_PARAMETERS_SEED_0 = {
    "features.stages.0.conv.weight": (0.05271657928824425, 0.043956153094768524, 5.542145785053435),
    "features.stages.0.conv.bias": (0.07466468214988708, -0.009258823469281197, 0.41396194184198976),
    "features.stages.1.conv.weight": (-0.040287598967552185, 0.0704025998711586, -3.370045119072074),
    "features.stages.1.conv.bias": (0.07895228266716003, -0.01322350837290287, 0.20091208146186545),
    "features.stages.2.conv.weight": (0.030976811423897743, -0.04256225377321243, 4.330154263359873),
    "features.stages.2.conv.bias": (-0.058483950793743134, -0.03213644027709961, -0.013289059395901859),
    "blocks.0.key.weight": (0.1391880214214325, -0.02234741672873497, 4.0531996844219975),
    "blocks.0.key.bias": (0.11140280961990356, 0.143037810921669, 0.15835577622056007),
    "blocks.0.query.weight": (-0.0877675712108612, 0.11596623063087463, 1.8982171221869066),
    "blocks.0.query.bias": (0.051858946681022644, 0.09426715224981308, 0.21906936261802912),
    "blocks.0.value.weight": (-0.0310256015509367, 0.10604479163885117, -1.0216517758926784),
    "blocks.0.value.bias": (0.013894561678171158, -0.07903696596622467, -0.08268577605485916),
    "blocks.0.out.weight": (-0.298625648021698, -0.3296537697315216, -1.0219089971797075),
    "blocks.0.out.bias": (-0.07556779682636261, 0.30394938588142395, 0.9132061209529638),
    "blocks.1.key.weight": (0.11380061507225037, -0.04196350648999214, 2.7273268236604054),
    "blocks.1.key.bias": (-0.1367727369070053, 0.11235368996858597, -0.3072769343852997),
    "blocks.1.query.weight": (0.07203354686498642, -0.0022437493316829205, -1.6357176683959551),
    "blocks.1.query.bias": (0.07606622576713562, 0.08437637984752655, 0.11880983039736748),
    "blocks.1.value.weight": (0.011195818893611431, 0.08852723240852356, -0.9759591335750883),
    "blocks.1.value.bias": (-0.1346062272787094, 0.04688116908073425, -0.14696180867031217),
    "blocks.1.out.weight": (0.2713773846626282, -0.31925687193870544, -5.455447814427316),
    "blocks.1.out.bias": (-0.28878700733184814, -0.14265066385269165, -1.7546019102446735),
    "blocks.2.key.weight": (-0.07982482761144638, -0.1352151781320572, -1.2074554296123097),
    "blocks.2.key.bias": (-0.1364808976650238, -0.08885081112384796, -0.09267181903123856),
    "blocks.2.query.weight": (-0.09941123425960541, 0.02306021749973297, 0.3234185991459526),
    "blocks.2.query.bias": (0.08762579411268234, 0.09287042170763016, 0.06425369717180729),
    "blocks.2.value.weight": (0.10089300572872162, 0.07575549185276031, -1.0679897224908927),
    "blocks.2.value.bias": (0.06912380456924438, 0.033857837319374084, 0.33068141154944897),
    "blocks.2.out.weight": (0.15678930282592773, -0.09267386049032211, 1.9609582129633054),
    "blocks.2.out.bias": (0.005630760453641415, -0.05079483985900879, -1.2425332521088421),
    "blocks.3.key.weight": (0.009011219255626202, 0.08267566561698914, -0.8974165683412139),
    "blocks.3.key.bias": (-0.054090265184640884, -0.0037791181821376085, 0.19445632095448673),
    "blocks.3.query.weight": (0.09873048216104507, 0.11316215246915817, 1.3617933536370401),
    "blocks.3.query.bias": (-0.030043266713619232, -0.11004607379436493, -0.14393717364873737),
    "blocks.3.value.weight": (0.11887825280427933, -0.09653060138225555, -1.627830955767422),
    "blocks.3.value.bias": (0.04346255213022232, -0.1413118690252304, 0.16840751469135284),
    "blocks.3.out.weight": (-0.11578524857759476, 0.14510652422904968, 1.2580020774621516),
    "blocks.3.out.bias": (-0.33818212151527405, -0.18144968152046204, -0.5313674970529974),
    "classifier.weight": (-0.13925959169864655, -0.12909118831157684, -1.031313096638769),
    "classifier.bias": (-0.08910474926233292, -0.10989925265312195, -0.03686289279721677),
}


def test_parameter_count_is_the_assignments():
    model = UltimusNet()
    assert sum(parameter.size for parameter in model.parameters()) == 26_074


def test_summary_prints_the_assignments_table_row_for_row():
    def without_rules(lines):
        return [line for line in lines if line.strip("-=")]

    expected = without_rules(ASSIGNMENT_TABLE.read_text().splitlines())
    printed = without_rules(summary(UltimusNet(), (3, 32, 32), print_fn=lambda _: None).splitlines())
    # the assignment's copy stops before the last two size lines
    assert printed[:len(expected)] == expected
    assert len(expected) == 1 + 32 + 5


def test_initial_parameters_for_a_seed_are_the_recorded_ones():
    minigrad.manual_seed(0)
    model = UltimusNet()
    convolutions_and_linears = {name: parameter for name, parameter in model.named_parameters() if ".norm." not in name}
    assert list(convolutions_and_linears) == list(INITIAL_PARAMETERS_SEED_0)
    for name, parameter in convolutions_and_linears.items():
        data = parameter.data.astype(numpy.float64)
        numpy.testing.assert_allclose((data.flat[0], data.flat[-1], data.sum()), INITIAL_PARAMETERS_SEED_0[name],
                                      rtol=1e-6, atol=1e-9, err_msg=name)


def test_state_dict_keys_follow_the_stages():
    keys = list(UltimusNet().state_dict())
    stage = ["conv.weight", "conv.bias", "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var",
             "norm.num_batches_tracked"]
    block = [f"{layer}.{kind}" for layer in ("key", "query", "value", "out") for kind in ("weight", "bias")]
    assert keys == ([f"features.stages.{index}.{name}" for index in range(3) for name in stage]
                    + [f"blocks.{index}.{name}" for index in range(4) for name in block]
                    + ["classifier.weight", "classifier.bias"])


def parallel_lists_layout(state):
    """A state_dict in the layout that kept the trunk's convolutions and norms in two lists."""
    layout = {}
    for key, value in state.items():
        if key.startswith("features.stages."):
            index, layer, rest = key[len("features.stages."):].split(".", 2)
            key = f"features.{layer}s.{index}.{rest}"
        layout[key] = value
    return layout


def test_a_checkpoint_in_the_parallel_lists_layout_loads():
    minigrad.manual_seed(1)
    trained = UltimusNet()
    trained.features.stages[2].norm.running_mean.data[:] = 0.5
    old = parallel_lists_layout(trained.state_dict())
    assert "features.convs.2.weight" in old and "features.norms.2.running_mean" in old
    model = UltimusNet()
    model.load_state_dict(old)
    for (name, ours), theirs in zip(model.state_dict().items(), trained.state_dict().values()):
        numpy.testing.assert_array_equal(ours, theirs, err_msg=name)


def test_the_pool_averages_the_whole_map_of_any_image_size():
    minigrad.manual_seed(0)
    model = UltimusNet(image_size=48).eval()
    images = numpy.random.default_rng(0).standard_normal((2, 3, 48, 48)).astype(numpy.float32)
    trunk = model.features
    maps = trunk.stages(Tensor(images)).data  # (2, 48, 6, 6)
    numpy.testing.assert_allclose(trunk(Tensor(images)).data, maps.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)
    assert model(Tensor(images)).shape == (2, 10)


def test_the_pytorch_mirror_has_our_keys_and_computes_what_we_compute():
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("torch_ultimus", REPOSITORY / "benchmarks" / "torch_ultimus.py")
    torch_ultimus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(torch_ultimus)
    minigrad.manual_seed(0)
    ours, theirs = UltimusNet().eval(), torch_ultimus.TorchUltimusNet().eval()
    ours.features.stages[0].norm.running_var.data[:] = 2.0  # so that the buffers' keys are checked too
    theirs.load_state_dict({key: torch.from_numpy(numpy.array(value)) for key, value in ours.state_dict().items()})
    rng = numpy.random.default_rng(5)
    images, features = rng.standard_normal((4, 3, 32, 32)), rng.standard_normal((4, 48))
    # part by part: at initialization the logits barely depend on the trunk's small outputs
    for our_part, their_part, x in [(ours.features, theirs.features, images), (ours.blocks, theirs.blocks, features),
                                    (ours, theirs, images)]:
        x = x.astype(numpy.float32)
        with torch.no_grad():
            expected = their_part(torch.from_numpy(x)).numpy()
        numpy.testing.assert_allclose(our_part(Tensor(x)).data, expected, rtol=1e-4, atol=1e-5)


def slow_ultimus(x, block):
    """The block written out with explicit loops over the attention matrix's entries."""
    weight = {name: getattr(block, name).weight.data.astype(numpy.float64) for name in ("key", "query", "value", "out")}
    bias = {name: getattr(block, name).bias.data.astype(numpy.float64) for name in ("key", "query", "value", "out")}
    outputs = []
    for row in x:
        key, query, value = (weight[n] @ row + bias[n] for n in ("key", "query", "value"))
        size = len(key)
        scores = [[query[i] * key[j] / math.sqrt(size) for j in range(size)] for i in range(size)]
        attention = numpy.zeros((size, size))
        for j in range(size):  # softmax over i, for each column j
            column = [math.exp(scores[i][j]) for i in range(size)]
            for i in range(size):
                attention[i, j] = column[i] / sum(column)
        mixed = [sum(value[i] * attention[i, j] for i in range(size)) for j in range(size)]
        outputs.append(weight["out"] @ numpy.array(mixed) + bias["out"])
    return numpy.array(outputs)


def test_ultimus_block_matches_the_loop_definition():
    minigrad.manual_seed(3)
    block = Ultimus()
    x = numpy.random.default_rng(0).standard_normal((5, 48)).astype(numpy.float32)
    numpy.testing.assert_allclose(block(Tensor(x)).data, slow_ultimus(x.astype(numpy.float64), block), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("scaling", SCALINGS)
def test_the_blocks_fused_mixing_is_value_times_its_attention_matrix(scaling):
    minigrad.manual_seed(3)
    block = as_float64(Ultimus(scaling=scaling))
    arrays = numpy.random.default_rng(5).standard_normal((3, 6, 8))
    results = []
    for mix in (block.mix, lambda query, key, value: (value.reshape(6, 1, 8) @ block.attention(query, key)).reshape(6, 8)):
        query, key, value = (Tensor(array, requires_grad=True) for array in arrays)
        mixed = mix(query, key, value)
        mixed.backward(numpy.linspace(-1, 1, 48).reshape(6, 8))
        results.append([mixed.data, query.grad, key.grad, value.grad])
    for fused, composed in zip(*results):
        numpy.testing.assert_allclose(fused, composed, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("scaling", SCALINGS)
@pytest.mark.parametrize("watched", ["key", "query", "value"])
def test_a_block_fused_computes_what_its_layers_compute_one_by_one(scaling, watched):
    """A hook on one of a block's projections makes it run them one by one; without one, one op runs them all."""
    results = []
    for hooked in (False, True):
        minigrad.manual_seed(3)
        block = as_float64(Ultimus(scaling=scaling))
        if hooked:
            getattr(block, watched).register_forward_hook(lambda *_: None)
        x = Tensor(numpy.random.default_rng(5).standard_normal((6, 48)), requires_grad=True)
        output = block(x)
        ops = [type(op).__name__ for op in ops_in_forward_order(output)]
        assert ops.count("ProjectedAttention") == (0 if hooked else 1)
        output.backward(numpy.linspace(-1, 1, 6 * 48).reshape(6, 48))
        results.append([output.data, x.grad] + [parameter.grad for parameter in block.parameters()])
    for fused, one_by_one in zip(*results):
        numpy.testing.assert_allclose(fused, one_by_one, rtol=1e-12, atol=1e-14)


def test_scaling_after_the_softmax_divides_the_attention_matrix():
    minigrad.manual_seed(3)
    inside, after = Ultimus(scaling="inside"), Ultimus(scaling="after")
    after.load_state_dict(inside.state_dict())
    x = Tensor(numpy.random.default_rng(1).standard_normal((4, 48)).astype(numpy.float32))
    key, query, value = inside.key(x).data, inside.query(x).data, inside.value(x).data
    scores = query[:, :, None] * key[:, None, :]
    softmax = numpy.exp(scores) / numpy.exp(scores).sum(axis=1, keepdims=True)
    mixed = numpy.einsum("ni,nij->nj", value, softmax / math.sqrt(8))
    expected = mixed @ inside.out.weight.data.T + inside.out.bias.data
    numpy.testing.assert_allclose(after(x).data, expected, rtol=1e-5, atol=1e-6)


def test_unknown_scaling_is_rejected():
    with pytest.raises(ValueError, match="scaling must be one of"):
        Ultimus(scaling="before")


def as_float64(model):
    for parameter in model.parameters():
        parameter.data = parameter.data.astype(numpy.float64)
    for buffer in model.buffers():
        if buffer.data.dtype.kind == "f":
            buffer.data = buffer.data.astype(numpy.float64)
    return model


def test_gradcheck_ultimus_block_input_and_parameters():
    minigrad.manual_seed(0)
    block = as_float64(Ultimus())
    x = Tensor(numpy.random.default_rng(2).standard_normal((3, 48)), requires_grad=True)
    parameters = list(block.parameters())
    assert minigrad.gradcheck(lambda x, *_: block(x), [x, *parameters])


@pytest.mark.parametrize("training", [True, False])
def test_a_stage_fused_computes_what_its_layers_compute_one_by_one(training):
    """A hook on a stage's dropout makes the stage run its layers one by one; without one they run fused."""
    results = []
    for watched in (False, True):
        minigrad.manual_seed(0)
        model = UltimusNet(dropout=0.2).train(training)
        if watched:
            model.features.stages[1].dropout.register_forward_hook(lambda *_: None)
        x = Tensor(numpy.random.default_rng(4).standard_normal((6, 3, 32, 32)), dtype="float32", requires_grad=True)
        output = model(x)
        fused_stages = [type(op).__name__ for op in ops_in_forward_order(output)].count("BatchNormReLUDropout")
        assert fused_stages == (2 if watched else 3)  # the watched stage, and only it, runs one by one
        output.backward(numpy.ones(output.shape, dtype=numpy.float32))
        results.append([output.data, x.grad] + [tensor.data for tensor in model.features.stages[1].norm.buffers()])
    for fused, one_by_one in zip(*results):
        assert numpy.array_equal(fused, one_by_one)


def test_gradcheck_whole_network_in_training_mode():
    minigrad.manual_seed(0)
    model = as_float64(UltimusNet(dropout=0.0))
    model.train()
    x = Tensor(numpy.random.default_rng(4).standard_normal((2, 3, 32, 32)), requires_grad=True)
    # 40 random elements of every parameter tensor and of the input (all 32k would take minutes)
    assert minigrad.gradcheck(lambda x, *_: model(x), [x, *model.parameters()], samples=40)


def test_the_residual_variant_has_the_assignments_parameters_and_initial_values():
    minigrad.manual_seed(0)
    assignment = dict(UltimusNet().named_parameters())
    minigrad.manual_seed(0)
    residual = dict(UltimusNet(variant="residual").named_parameters())
    assert sum(parameter.size for parameter in residual.values()) == 26_074
    assert list(residual) == list(assignment)
    for name, parameter in residual.items():
        numpy.testing.assert_array_equal(parameter.data, assignment[name].data, err_msg=name)


def test_a_residual_block_adds_its_input_to_the_attention_output():
    minigrad.manual_seed(3)
    plain, residual = Ultimus(), Ultimus(residual=True)
    residual.load_state_dict(plain.state_dict())
    x = numpy.random.default_rng(0).standard_normal((5, 48)).astype(numpy.float32)
    numpy.testing.assert_allclose(residual(Tensor(x)).data, x + plain(Tensor(x)).data, rtol=1e-6, atol=1e-6)


def test_the_default_variant_has_no_residual_and_an_unknown_one_is_rejected():
    assert not any(block.residual for block in UltimusNet().blocks)
    assert all(block.residual for block in UltimusNet(variant="residual").blocks)
    with pytest.raises(ValueError, match="variant must be one of"):
        UltimusNet(variant="resnet")


def test_gradcheck_residual_network_in_training_mode():
    minigrad.manual_seed(0)
    model = UltimusNet(dropout=0.0, variant="residual").double().train()
    x = Tensor(numpy.random.default_rng(4).standard_normal((2, 3, 32, 32)), requires_grad=True)
    assert minigrad.gradcheck(lambda x, *_: model(x), [x, *model.parameters()], samples=40, params=model)


def test_the_summary_shows_each_residual_sum_as_a_row_without_parameters():
    def rows(model):
        """(layer type, output shape, parameters) of each layer row, and the table's totals."""
        table = summary(model, (3, 32, 32), print_fn=lambda _: None).splitlines()
        layers = [line.split() for line in table[3:table.index("=" * 64, 3)]]
        return [(name.rsplit("-", 1)[0], " ".join(cells[:-1]), cells[-1]) for name, *cells in layers], table[-9:-6]

    (residual, residual_totals), (assignment, assignment_totals) = rows(UltimusNet(variant="residual")), rows(UltimusNet())
    sums = [row for row in residual if row[0] == "ResidualSum"]
    assert sums == [("ResidualSum", "[-1, 48]", "0")] * 4
    assert residual.index(sums[0]) == [row[0] for row in residual].index("Linear") + 4  # after block 0's four Linears
    assert [row for row in residual if row[0] != "ResidualSum"] == assignment
    assert residual_totals == assignment_totals
