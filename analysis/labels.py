"""Names of scores and outcomes in words, with their scale and direction."""

from analysis.variables import BINARY_SCORE_NAMES, SCORE_NAMES, VARIABLES

# Scores, and 0/1 outcomes made from a score, by the names the shipped plan gives them (analysis.variables).
SCORE_LABELS = {name: VARIABLES[name].label for name in SCORE_NAMES}
BINARY_LABELS = {name: VARIABLES[name].label for name in BINARY_SCORE_NAMES}


def split_outcome(outcome: str) -> tuple[str, str]:
    """'k6_w3' -> ('k6', '3'); a name without a wave suffix gives (name, '')."""
    score, _, wave = outcome.rpartition("_w")
    return (score, wave) if score and wave.isdigit() else (outcome, "")


def outcome_label(outcome: str) -> str:
    """'k6_w3' -> 'K6 psychological distress (...) at wave 3'."""
    score, wave = split_outcome(outcome)
    label = SCORE_LABELS.get(score) or BINARY_LABELS.get(score)
    if label and wave:
        return f"{label} at wave {wave}"
    return outcome


# Cluster variables in words, for the methods notes of each table.
CLUSTER_WORDS = {"la_code": "local authority", "centre_id": "centre"}


def cluster_words(name: str) -> str:
    return CLUSTER_WORDS.get(name, name)


# Where a mother's funding group comes from, in words: her centre's budget, or (exposure.level: la) her local
# authority's spend on children's centres.
LA_GROUP_WORDS = {"growing": "grew", "stable": "stayed stable", "cut": "was cut"}


def mothers_in(group: str, exposure_level: str = "centre") -> str:
    """'at growing centres', or at LA level 'in local authorities whose children's-centre spending grew'."""
    if exposure_level == "la":
        return f"in local authorities whose children's-centre spending {LA_GROUP_WORDS.get(group, group)}"
    return f"at {group} centres"
