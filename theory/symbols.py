"""The symbols shared by every derivation, declared once with their assumptions.

Convention (the suite's canonical one, see ``normlaws.conventions``): the objective is
``L_lambda(w) = L(w) + lam * ||w||^2``, so the penalty's gradient is ``2 * lam * w`` and one SGD step
multiplies ``w`` by ``(1 - 2*eta*lam)`` before adding the gradient noise.
"""
import sympy as sp

eta = sp.Symbol("eta", positive=True)          # learning rate
lam = sp.Symbol("lamda", positive=True)        # L2 strength in L + lam*||w||^2 (SymPy spelling: "lambda" is a Python keyword, so sympify could not read it back; LaTeX still prints \lambda)
alpha = sp.Symbol("alpha", positive=True)      # weight rescaling factor w -> alpha*w (alpha > 0)
alpha_real = sp.Symbol("alpha", real=True, nonzero=True)  # a scale factor of either sign
rho = sp.Symbol("rho", positive=True)          # momentum / EMA decay (0 < rho < 1)
beta1 = sp.Symbol("beta1", positive=True)      # Adam first-moment decay
beta2 = sp.Symbol("beta2", positive=True)      # Adam second-moment decay
eps = sp.Symbol("epsilon", positive=True)      # RMSProp / Adam / BN epsilon
C = sp.Symbol("C", positive=True)              # E||grad L(w_hat)||^2 at unit norm (Section 4 model)
d = sp.Symbol("d", positive=True, integer=True)  # dimension of the weight vector
N = sp.Symbol("N", positive=True)              # squared norm ||w||^2
r = sp.Symbol("r", positive=True)              # norm ||w||
t = sp.Symbol("t", positive=True)              # step count
gamma = sp.Symbol("gamma", positive=True)      # BN/WN/LN gain
beta = sp.Symbol("beta", real=True)            # BN/WN/LN shift
sigma_g = sp.Symbol("sigma_nabla", positive=True)  # std of the upstream gradient (paper's sigma_nabla)
sigma_x = sp.Symbol("sigma_X", positive=True)  # std of the inputs (paper's sigma_X)
k_eta, k_B, k_n = sp.symbols("k_eta k_B k_n", positive=True)  # factors by which eta, batch and dataset size change

#: The paper's Section 4 model constant in terms of its own symbols: E[grad L(w)^2] = sigma^2 gamma^2 / (2 ||w||^2)
#: (a rectifier passes the gradient with probability 1/2), i.e. C = gamma^2 sigma_nabla^2 / 2 for one coordinate.
C_PAPER = gamma**2 * sigma_g**2 / 2
