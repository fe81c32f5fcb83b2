"""Self-checks for the exercises: call them on your own code; they say what is wrong.

Every check prints one verdict and returns a CheckResult, true when your code passes: "Correct" and
what was verified; "Not quite" and precisely what is wrong, with a hint; or "Not done
yet" while your function still raises NotImplementedError. A check never raises because
of your code, so a half-finished notebook still runs top to bottom.

One module per notebook (training2d serves notebooks 3 and 4); everything is re-exported here.
"""

from ebm_lib.course.exercises.diffusion import check_annealed, check_noisy_gaussian_score, check_tweedie
from ebm_lib.course.exercises.energy_networks import check_conv_flops, check_energy_net, check_largest_singular_value
from ebm_lib.course.exercises.langevin import (
    check_langevin_step,
    check_stationary_variance,
    check_step_size_choice,
    step_size_distance,
    step_size_distance_curve,
)
from ebm_lib.course.exercises.mnist import check_auroc, check_noise_for_temperature, check_sign_flip
from ebm_lib.course.exercises.training2d import check_cd_loss, check_diagnosis, check_grid_probabilities, check_welch_t

__all__ = ["check_conv_flops", "check_energy_net", "check_largest_singular_value"]
__all__ += [
    "check_langevin_step",
    "check_stationary_variance",
    "check_step_size_choice",
    "step_size_distance",
    "step_size_distance_curve",
]
__all__ += ["check_cd_loss", "check_diagnosis", "check_grid_probabilities", "check_welch_t"]
__all__ += ["check_auroc", "check_noise_for_temperature", "check_sign_flip"]
__all__ += ["check_annealed", "check_noisy_gaussian_score", "check_tweedie"]
