from knowledge.privacy import is_valid_id_number, mask_personal_data


def test_id_numbers_are_checked_by_their_checksum():
    assert is_valid_id_number("11010519491231002X")
    assert not is_valid_id_number("110105194912310021")  # wrong check digit


def test_personal_data_is_masked_and_the_rest_kept():
    text = "身份证11010519491231002X，电话139-1234-5678，卡号6222 0212 3456 7890 128，问托位"
    masked = mask_personal_data(text)
    assert masked == "身份证[身份证号]，电话[手机号]，卡号[银行卡号]，问托位"


def test_ordinary_numbers_are_not_masked():
    text = "到2025年每千人口托位4.6个，人均预期寿命83.88岁，编号110105194912310021"
    assert mask_personal_data(text) == text
