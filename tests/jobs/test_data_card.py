"""The data card job's values on the LM language, in process (the end-to-end LM pipeline is a slow-tier test):
the token set it was restricted to, L* with its Monte Carlo SE and estimator, and the prompt task's ceilings."""
from experiments.configs import lm
from flatness_jax.data import make_language
from flatness_jax.jobs import data_card


def test_lm_card_names_its_token_set_estimator_and_prompt_ceilings():
  config = lm.get_config("tiny")
  language = make_language(config.data)
  card = data_card.compute_card(language, 400, 1)
  assert card["token_set"]["num_tokens"] == 16 and "most frequent" in card["token_set"]["selection"]
  assert card["token_set"]["token_ids"] == language.token_ids.tolist()
  assert card["optimal_loss"] > 0 and card["optimal_loss_se"] > 0
  assert "one uniformly drawn position" in card["optimal_loss_estimator"]
  prompt = card["tasks"]["prompt"]
  assert prompt["num_classes"] == 4 and prompt["majority_accuracy_exact"] == 0.25
  assert prompt["bayes_accuracy"] > 0.25 + 4 * prompt["bayes_accuracy_se"]  # the prompt can be told from the text
  again = data_card.compute_card(language, 400, 1)
  assert again["optimal_loss"] == card["optimal_loss"]  # a pure function of the language and the seed
