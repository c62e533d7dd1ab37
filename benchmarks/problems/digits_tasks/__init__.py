"""``digits-tasks/<task>``: a multi-task NAS + HPO table trained on variants of scikit-learn's digits.

Six tasks made from the bundled 8x8 digits (:mod:`.tasks`), one search space shared by all of them
(:mod:`.space`: NB201 cells over three ops and the learning rate, 1,458 configurations) and every
configuration trained briefly on every task (:mod:`.generate`). The committed table
(``benchmarks/results/digits-tasks/table.csv.xz``) makes each task a look-up problem
(:mod:`.problem`), and the tasks' image samples feed the transfer model's dataset encoder.
"""
