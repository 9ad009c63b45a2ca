"""The network's literal Hessians against PyTorch and JAX, read through the layout converter.

``torch.func.hessian`` and ``jax.hessian`` return out.shape + X.shape + Y.shape tensors,
row-major; :func:`jacobian_calc.from_tensor_hessian` puts them in the vec convention,
H_XY = ∂(∇_vec(X) f)/∂vec(Y). Everything is float64, so the two routes agree to rounding.
A peer that is not installed skips its tests (never fails them).
"""

import numpy as np
import pytest

import jacobian_calc as jc
from jacobian_calc.testing import assert_allclose_scaled

ACTIVATIONS = ("tanh", "sigmoid", "softplus", "relu", "identity")
LOSSES = ("squared_error", "softmax_cross_entropy")
SIZES = (3, 4, 3, 2)  # d, p, q, s: small, every weight a different shape


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch.func")
    return torch


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", previous)


def problem(activation, loss, batch=None, seed=0, biases=False):
    """Weights, x, y (a batch of columns when ``batch``), the MLP and its parameters."""
    d, p, q, s = SIZES
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(p, d)), rng.normal(size=(q, p)) / 2, rng.normal(size=(s, q))]
    x = rng.normal(size=(d,) if batch is None else (d, batch))
    y = rng.normal(size=(s,) if batch is None else (s, batch))
    if loss == "softmax_cross_entropy":  # a distribution per column
        y = np.abs(y) / np.abs(y).sum(axis=0)
    bs = [rng.normal(size=n) for n in (p, q, s)] if biases else None
    net = jc.MLP(weights, activation=activation, loss=loss, biases=bs)
    params = list(weights) + (bs or [])
    return net, x, y, params


def torch_loss(torch, activation, loss, x, y, k):
    """f(W1, …, WL[, b1, …, bL]) written in PyTorch, float64, as the library defines it."""
    phi = {"tanh": torch.tanh, "sigmoid": torch.sigmoid,
           "softplus": torch.nn.functional.softplus, "relu": torch.relu,
           "identity": lambda h: h}[activation]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def f(*params):
        Ws, bs = params[:k], params[k:]
        z = xt
        for i, W in enumerate(Ws):
            h = W @ z
            if bs:
                h = h + (bs[i] if z.ndim == 1 else bs[i][:, None])
            z = phi(h) if i < k - 1 else h
        if loss == "squared_error":  # ½‖ŷ − y‖², summed over the columns
            r = z - yt
            return 0.5 * (r * r).sum()
        return -(yt * torch.log_softmax(z, dim=0)).sum()  # per column, summed

    return f


def jax_loss(jax, activation, loss, x, y, k):
    jnp = jax.numpy
    phi = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "softplus": jax.nn.softplus,
           "relu": jax.nn.relu, "identity": lambda h: h}[activation]
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def f(*Ws):
        z = xj
        for i, W in enumerate(Ws):
            z = phi(W @ z) if i < k - 1 else W @ z
        if loss == "squared_error":
            return 0.5 * jnp.sum((z - yj) ** 2)
        return -jnp.sum(yj * jax.nn.log_softmax(z, axis=0))

    return f


def tensors(torch, params):
    return [torch.from_numpy(np.array(P)) for P in params]


def assemble(blocks, shapes):
    """The full Hessian over θ = (vec P1; vec P2; …) from the tensor-layout blocks [i][j]."""
    rows = [[jc.from_tensor_hessian(np.asarray(blocks[i][j]), shapes[i], shapes[j]).toarray()
             for j in range(len(shapes))] for i in range(len(shapes))]
    return np.block(rows)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_each_weight_block_equals_torch_func_hessian(torch, activation, loss):
    from torch.func import hessian

    net, x, y, params = problem(activation, loss)
    f = torch_loss(torch, activation, loss, x, y, 3)
    args = tensors(torch, params)
    for k, W in enumerate(params):
        T = hessian(f, argnums=k)(*args)
        assert tuple(T.shape) == W.shape + W.shape  # the tensor layout
        theirs = jc.from_tensor_hessian(T, W.shape, x=f"W{k + 1}")
        ours = net.hessian(x, y, wrt=f"W{k + 1}")
        assert ours.shape == theirs.shape == (W.size, W.size)
        assert_allclose_scaled(ours.toarray(), theirs.toarray(), 1e-10,
                               f"H_W{k + 1}W{k + 1} ({activation}, {loss})", atol=1e-13)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ("tanh", "sigmoid", "softplus"))
def test_cross_layer_blocks_equal_jacfwd_of_jacrev(torch, activation, loss):
    from torch.func import jacfwd, jacrev

    net, x, y, params = problem(activation, loss, seed=1)
    f = torch_loss(torch, activation, loss, x, y, 3)
    args = tensors(torch, params)
    for i, j in ((0, 1), (1, 0), (0, 2), (1, 2), (2, 0)):
        T = jacfwd(jacrev(f, argnums=i), argnums=j)(*args)
        Wi, Wj = params[i], params[j]
        assert tuple(T.shape) == Wi.shape + Wj.shape
        theirs = jc.from_tensor_hessian(T, Wi.shape, Wj.shape, x=f"W{i + 1}", y=f"W{j + 1}")
        ours = net.hessian(x, y, wrt=(f"W{i + 1}", f"W{j + 1}"))
        assert_allclose_scaled(ours.toarray(), theirs.toarray(), 1e-10,
                               f"H_W{i + 1}W{j + 1} ({activation}, {loss})", atol=1e-13)
        # and our block written in the tensor layout is torch's tensor
        tensor = jc.to_tensor_hessian(ours)
        assert tensor.shape == tuple(T.shape)
        assert_allclose_scaled(tensor.reshape(-1), T.numpy().reshape(-1), 1e-10,
                               "to_tensor_hessian", atol=1e-13)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("batch", (None, 3))
def test_the_full_hessian_over_every_weight(torch, loss, batch):
    from torch.func import hessian

    net, x, y, params = problem("tanh", loss, batch=batch, seed=2)
    f = torch_loss(torch, "tanh", loss, x, y, 3)
    blocks = hessian(f, argnums=(0, 1, 2))(*tensors(torch, params))
    theirs = assemble(blocks, [W.shape for W in params])
    H = net.hessian(x, y)
    assert H.shape == theirs.shape == (sum(W.size for W in params),) * 2
    assert_allclose_scaled(H.toarray(), theirs, 1e-10, f"full Hessian ({loss}, batch {batch})",
                           atol=1e-13)
    for a in ("W1", "W2", "W3"):
        for b in ("W1", "W2", "W3"):
            i, j = int(a[1]) - 1, int(b[1]) - 1
            block = jc.from_tensor_hessian(blocks[i][j], params[i].shape, params[j].shape)
            assert_allclose_scaled(H.block(a, b).toarray(), block.toarray(), 1e-10,
                                   f"H.block({a!r}, {b!r})", atol=1e-13)


def test_biases_come_after_the_weights(torch):
    from torch.func import hessian

    net, x, y, params = problem("softplus", "squared_error", batch=2, seed=3, biases=True)
    f = torch_loss(torch, "softplus", "squared_error", x, y, 3)
    blocks = hessian(f, argnums=tuple(range(6)))(*tensors(torch, params))
    theirs = assemble(blocks, [P.shape for P in params])
    assert net.parameter_names == ("W1", "W2", "W3", "b1", "b2", "b3")
    assert_allclose_scaled(net.hessian(x, y).toarray(), theirs, 1e-10, "with biases", atol=1e-13)


@pytest.mark.parametrize("loss", LOSSES)
def test_hessian_vector_products_equal_forward_over_reverse(torch, loss):
    from torch.func import grad, jvp

    net, x, y, params = problem("sigmoid", loss, batch=2, seed=4)
    f = torch_loss(torch, "sigmoid", loss, x, y, 3)
    rng = np.random.default_rng(5)
    V = {f"W{k + 1}": rng.normal(size=W.shape) for k, W in enumerate(params)}
    _, theirs = jvp(grad(f, argnums=(0, 1, 2)), tuple(tensors(torch, params)),
                    tuple(tensors(torch, V.values())))
    ours = net.hvp(x, y, V)
    for k, name in enumerate(V):
        assert ours[name].shape == params[k].shape
        assert_allclose_scaled(ours[name], theirs[k].numpy(), 1e-10, f"(Hv)[{name}]",
                               atol=1e-13)


@pytest.mark.parametrize("loss", LOSSES)
def test_the_gauss_newton_block_is_jt_hl_j(torch, loss):
    # Built from torch's own pieces in the tensor layout: J[i, a] = ∂ŷ_i/∂W1[a] and
    # H_L = ∂²f/∂ŷ², then Σ_ij J[i, a] H_L[i, j] J[j, b].
    from torch.func import hessian, jacrev

    net, x, y, params = problem("tanh", loss, seed=6)
    W1, W2, W3 = tensors(torch, params)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def yhat(W):
        return W3 @ torch.tanh(W2 @ torch.tanh(W @ xt))

    def L(v):
        if loss == "squared_error":
            return 0.5 * ((v - yt) ** 2).sum()
        return -(yt * torch.log_softmax(v, dim=0)).sum()

    J = jacrev(yhat)(W1).numpy()  # (s,) + W1.shape
    HL = hessian(L)(yhat(W1)).numpy()
    T = np.einsum("iab,ij,jcd->abcd", J, HL, J)
    ours = net.gauss_newton(x, y, wrt="W1")
    assert isinstance(ours.storage, jc.core.structure.Kron)  # kept as its two factors
    assert_allclose_scaled(ours.toarray(), jc.from_tensor_hessian(T, params[0].shape).toarray(),
                           1e-10, f"Gauss-Newton block of W1 ({loss})", atol=1e-13)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ("tanh", "sigmoid", "softplus"))
def test_the_full_hessian_equals_jax_hessian(jax, activation, loss):
    net, x, y, params = problem(activation, loss, batch=2, seed=7)
    f = jax_loss(jax, activation, loss, x, y, 3)
    blocks = jax.hessian(f, argnums=(0, 1, 2))(*(jax.numpy.asarray(W) for W in params))
    assert blocks[0][1].dtype == np.float64
    theirs = assemble(blocks, [W.shape for W in params])
    assert_allclose_scaled(net.hessian(x, y).toarray(), theirs, 1e-10,
                           f"full Hessian against jax ({activation}, {loss})", atol=1e-13)
