"""A seeded, generated banking-style intent corpus: 77 fine-grained intents with overlapping wording.

For tuning and timing the automatic pipeline at the size of real customer-support corpora
(about 10,000 training sentences) without downloading one. Each intent is a (topic, problem)
pair, e.g. top-up *pending* vs top-up *failed* vs top-up *reverted*: the topic's words are shared
by all its intents and the problem's words by every topic it occurs with, so neither words nor
trigrams alone separate intents. A sentence is one of the intent's phrasings with a random
synonym of the topic, inside a random frame ("Hi, ... Can you help?"), with optional context
clauses, casing changes and keyboard typos; a small share uses a phrasing that is generic for the
topic (irreducibly ambiguous between its intents, as in real corpora). Generated from the tables
below only: no external data.
"""

from __future__ import annotations

import random

from engine.intent.augment import add_typos
from engine.intent.data import LabelledTexts

TOPICS: dict[str, tuple[str, ...]] = {
    "card": ("card", "debit card", "bank card", "new card", "Visa card", "Mastercard", "plastic card"),
    "transfer": ("transfer", "bank transfer", "money transfer", "payment to my friend", "wire transfer",
                 "SEPA transfer", "transfer to my landlord"),
    "top_up": ("top up", "top-up", "topup", "deposit", "money I added", "top up from my bank"),
    "withdrawal": ("cash withdrawal", "ATM withdrawal", "withdrawal", "cash I took out", "cash machine withdrawal"),
    "payment": ("card payment", "payment", "purchase", "transaction", "payment in a shop", "online purchase"),
    "exchange": ("currency exchange", "exchange", "currency conversion", "foreign exchange", "money exchange"),
    "pin": ("PIN", "pin code", "PIN number", "card PIN"),
    "account": ("account", "profile", "bank account", "user account"),
    "refund": ("refund", "money back", "reimbursement", "returned payment"),
    "virtual": ("virtual card", "online card", "digital card", "disposable card"),
    "identity": ("identity", "ID", "identity check", "verification"),
    "phone": ("phone", "mobile", "smartphone", "app"),
}

GENERIC: dict[str, tuple[str, ...]] = {
    topic: ("there is a problem with my {t}", "something is wrong with my {t}", "question about my {t}",
            "I have an issue with a {t}", "help with {t}")
    for topic in TOPICS
}

# intent -> (topic, phrasings with {t} for a synonym of the topic)
INTENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "card_arrival": ("card", ("my {t} has not arrived yet", "where is my {t}", "I still haven't received my {t}",
                              "the {t} you sent never came", "how do I track my {t}")),
    "card_delivery_estimate": ("card", ("how long does it take to get a {t}", "when will my {t} be delivered",
                                        "how many days until the {t} comes", "what is the delivery time for a {t}")),
    "activate_my_card": ("card", ("how do I activate my {t}", "my {t} arrived, how do I start using it",
                                  "I want to activate the {t}", "where do I switch on my {t} in the app")),
    "lost_or_stolen_card": ("card", ("I lost my {t}", "my {t} was stolen", "someone took my {t}",
                                     "I can't find my {t} anywhere", "please freeze my {t}, it's gone")),
    "card_not_working": ("card", ("my {t} doesn't work", "the {t} is not working anymore",
                                  "my {t} stopped working", "why won't my {t} work")),
    "card_swallowed": ("card", ("the ATM kept my {t}", "the machine swallowed my {t}",
                                "my {t} got stuck in the cash machine", "the ATM did not give my {t} back")),
    "compromised_card": ("card", ("I think my {t} has been hacked", "my {t} details were stolen online",
                                  "someone is using my {t} details", "my {t} might be compromised")),
    "card_linking": ("card", ("how do I link my {t} to the app", "I want to add an existing {t} to my account",
                              "can I connect my {t} I found again", "link a {t} I already have")),
    "order_physical_card": ("card", ("can I order a {t}", "how do I get a physical {t}",
                                     "I want to order another {t}", "request a {t} by post")),
    "card_about_to_expire": ("card", ("my {t} is about to expire", "my {t} expires next month, what now",
                                      "will you send a new {t} before it expires", "renew my expiring {t}")),
    "getting_spare_card": ("card", ("can I get a second {t}", "I want a spare {t}", "extra {t} for my account",
                                    "how many {t}s can I have")),
    "card_acceptance": ("card", ("where can I use my {t}", "is my {t} accepted everywhere",
                                 "which shops take this {t}", "can I use the {t} abroad")),
    "contactless_not_working": ("card", ("contactless on my {t} is not working", "tap to pay fails with my {t}",
                                         "why doesn't contactless work on my {t}", "contactless is disabled")),
    "card_payment_fee_charged": ("payment", ("I was charged a fee for a {t}", "why is there a fee on my {t}",
                                             "extra charge on a {t}", "you took a fee for my {t}")),
    "card_payment_not_recognised": ("payment", ("I don't recognise this {t}", "there is a {t} I didn't make",
                                                "unknown {t} on my statement", "I never made this {t}")),
    "card_payment_wrong_exchange_rate": ("payment", ("the exchange rate on my {t} was wrong",
                                                     "wrong rate applied to my {t} abroad",
                                                     "you used a bad exchange rate for my {t}",
                                                     "my {t} in euros was converted at the wrong rate")),
    "pending_card_payment": ("payment", ("my {t} is still pending", "why is my {t} pending",
                                         "the {t} shows as pending for days", "how long does a {t} stay pending")),
    "declined_card_payment": ("payment", ("my {t} was declined", "why was my {t} declined",
                                          "the shop declined my {t}", "my {t} keeps getting rejected")),
    "reverted_card_payment": ("payment", ("my {t} was reverted", "the {t} was cancelled and returned",
                                          "why did my {t} get reversed", "a {t} disappeared and came back")),
    "transfer_not_received_by_recipient": ("transfer", ("my friend has not received my {t}",
                                                        "the recipient didn't get the {t}",
                                                        "the {t} hasn't arrived at the other account",
                                                        "the person says the {t} never came")),
    "pending_transfer": ("transfer", ("my {t} is still pending", "why is the {t} pending",
                                      "the {t} has been pending since Monday", "how long will the {t} be pending")),
    "failed_transfer": ("transfer", ("my {t} failed", "the {t} did not go through", "why did my {t} fail",
                                     "the {t} shows an error")),
    "declined_transfer": ("transfer", ("my {t} was declined", "why was the {t} declined",
                                       "the bank declined my {t}", "you rejected my {t}")),
    "cancel_transfer": ("transfer", ("I want to cancel a {t}", "how do I cancel my {t}", "stop the {t} I just made",
                                     "can I undo a {t}")),
    "transfer_timing": ("transfer", ("how long does a {t} take", "when will my {t} arrive",
                                     "how many days for a {t} to reach the account", "what is the time for a {t}")),
    "transfer_fee_charged": ("transfer", ("I was charged a fee for a {t}", "why is there a fee on my {t}",
                                          "extra charge for the {t}", "you took a fee for my {t}")),
    "transfer_into_account": ("transfer", ("how do I send a {t} into my account",
                                           "can I receive a {t} from another bank", "details for a {t} in",
                                           "how to get a {t} to my account")),
    "beneficiary_not_allowed": ("transfer", ("I can't add a beneficiary for my {t}",
                                             "the beneficiary is not allowed for this {t}",
                                             "why can't I add this payee", "adding a recipient for a {t} fails")),
    "balance_not_updated_after_bank_transfer": ("transfer", ("my balance did not update after the {t}",
                                                             "the {t} is not showing in my balance",
                                                             "balance is the same after a {t}",
                                                             "money from the {t} is missing in my balance")),
    "top_up_failed": ("top_up", ("my {t} failed", "the {t} did not work", "why did my {t} fail",
                                 "I got an error with my {t}")),
    "pending_top_up": ("top_up", ("my {t} is still pending", "why is the {t} pending",
                                  "the {t} has been pending for hours", "how long is a {t} pending")),
    "top_up_reverted": ("top_up", ("my {t} was reverted", "the {t} was cancelled and returned",
                                   "why did my {t} get reversed", "the {t} disappeared from my balance")),
    "top_up_limits": ("top_up", ("what is the limit for a {t}", "how much can I {t}", "is there a maximum {t}",
                                 "the maximum amount for a {t}")),
    "top_up_by_card_charge": ("top_up", ("I was charged a fee for a {t} by card", "why is there a fee on my {t}",
                                         "extra charge for a card {t}", "you took a fee for my {t} with a card")),
    "top_up_by_bank_transfer_charge": ("top_up", ("is there a fee for a {t} by bank transfer",
                                                  "I was charged for a {t} by transfer",
                                                  "fee for a {t} via bank transfer",
                                                  "does a {t} from my bank cost anything")),
    "top_up_by_cash_or_cheque": ("top_up", ("can I {t} with cash", "can I make a {t} with a cheque",
                                            "{t} using cash at a shop", "how do I {t} with cash")),
    "verify_top_up": ("top_up", ("I need to verify my {t}", "why do I need a code for the {t}",
                                 "the {t} asks for verification", "where is the verification code for my {t}")),
    "automatic_top_up": ("top_up", ("how do I set up an automatic {t}", "auto {t} when my balance is low",
                                    "turn on automatic {t}", "can the {t} happen automatically")),
    "apple_pay_or_google_pay": ("top_up", ("can I {t} with Apple Pay", "does Google Pay work for a {t}",
                                           "{t} through Apple Pay is not working", "use Google Pay for a {t}")),
    "cash_withdrawal_charge": ("withdrawal", ("I was charged a fee for a {t}", "why is there a fee on my {t}",
                                              "extra charge on the {t}", "you took a fee for my {t}")),
    "wrong_amount_of_cash_received": ("withdrawal", ("the ATM gave me the wrong amount for my {t}",
                                                     "I got less money than I asked for in my {t}",
                                                     "the {t} amount was wrong",
                                                     "the machine did not give all the cash")),
    "cash_withdrawal_not_recognised": ("withdrawal", ("I don't recognise this {t}", "there is a {t} I didn't make",
                                                      "unknown {t} on my statement", "I never made this {t}")),
    "pending_cash_withdrawal": ("withdrawal", ("my {t} is still pending", "why is the {t} pending",
                                               "the {t} shows as pending", "how long does a {t} stay pending")),
    "declined_cash_withdrawal": ("withdrawal", ("my {t} was declined", "why was my {t} declined",
                                                "the ATM declined my {t}", "I couldn't take out cash")),
    "wrong_exchange_rate_for_cash_withdrawal": ("withdrawal", ("the exchange rate on my {t} was wrong",
                                                               "wrong rate applied to my {t} abroad",
                                                               "bad exchange rate for my {t}",
                                                               "my {t} in dollars used the wrong rate")),
    "exchange_rate": ("exchange", ("what is your {t} rate", "how do you set the {t} rate",
                                   "where do your {t} rates come from", "what rate do you use for {t}")),
    "exchange_charge": ("exchange", ("is there a fee for {t}", "I was charged for a {t}",
                                     "how much does a {t} cost", "extra charge on my {t}")),
    "exchange_via_app": ("exchange", ("can I do a {t} in the app", "how do I make a {t} in the app",
                                      "{t} between currencies in the app", "where is {t} in the app")),
    "fiat_currency_support": ("exchange", ("which currencies do you support", "can I hold dollars",
                                           "do you support {t} to yen", "what currencies can I keep")),
    "change_pin": ("pin", ("how do I change my {t}", "I want a new {t}", "can I reset the {t}",
                           "change the {t} in the app")),
    "pin_blocked": ("pin", ("my {t} is blocked", "I entered the wrong {t} too many times",
                            "the {t} got locked", "unblock my {t}")),
    "get_physical_pin": ("pin", ("where do I find my {t}", "I never got a {t}", "how do I get the {t} for my card",
                                 "what is my {t}")),
    "passcode_forgotten": ("phone", ("I forgot my {t} passcode", "how do I reset the passcode for the {t}",
                                     "I can't remember the code to open the {t}", "locked out of the {t}")),
    "lost_or_stolen_phone": ("phone", ("I lost my {t}", "my {t} was stolen", "someone took my {t}",
                                       "I can't find my {t}, block the app")),
    "terminate_account": ("account", ("I want to close my {t}", "how do I delete my {t}", "cancel my {t}",
                                      "terminate the {t}")),
    "edit_personal_details": ("account", ("how do I change my address on my {t}", "update my name on the {t}",
                                          "edit the details of my {t}", "change the phone number on my {t}")),
    "age_limit": ("account", ("how old do I need to be for an {t}", "can my child have an {t}",
                              "is there a minimum age for an {t}", "can a teenager open an {t}")),
    "country_support": ("account", ("which countries can open an {t}", "can I open an {t} from abroad",
                                    "is the {t} available in my country", "do you support my country")),
    "receiving_money": ("account", ("how can I receive money in my {t}", "someone wants to pay me into my {t}",
                                    "can I get paid into this {t}", "receive a payment into my {t}")),
    "supported_cards_and_currencies": ("account", ("which cards can I add to my {t}",
                                                   "what cards and currencies does the {t} support",
                                                   "can I use an American Express with my {t}",
                                                   "are all card types supported")),
    "refund_not_showing_up": ("refund", ("my {t} is not showing", "where is my {t}", "the shop gave a {t} but I "
                                         "don't see it", "the {t} has not appeared in my account")),
    "request_refund": ("refund", ("how do I ask for a {t}", "I want a {t} for an item", "request a {t}",
                              "can I get a {t} for this purchase")),
    "direct_debit_payment_not_recognised": ("payment", ("I don't recognise this direct debit",
                                                        "there is a direct debit I didn't set up",
                                                        "unknown direct debit on my statement",
                                                        "a direct debit took money I don't know about")),
    "get_disposable_virtual_card": ("virtual", ("how do I get a {t}", "can I make a {t} for one purchase",
                                                "create a {t} for online shopping", "I want a single-use {t}")),
    "virtual_card_not_working": ("virtual", ("my {t} doesn't work", "the {t} was declined online",
                                             "my {t} is not working", "why won't my {t} work")),
    "disposable_card_limits": ("virtual", ("how many times can I use a {t}", "what is the limit on a {t}",
                                           "is there a limit for a {t}", "how many {t}s can I make")),
    "verify_my_identity": ("identity", ("how do I verify my {t}", "where do I upload my {t}",
                                        "I need to do the {t}", "what documents for the {t}")),
    "unable_to_verify_identity": ("identity", ("I can't verify my {t}", "the {t} keeps failing",
                                               "my {t} was rejected", "the app won't accept my {t}")),
    "why_verify_identity": ("identity", ("why do you need my {t}", "why do I have to do an {t}",
                                         "is the {t} necessary", "why is {t} required")),
    "verify_source_of_funds": ("identity", ("why do you ask where my money comes from",
                                            "how do I prove the source of my funds",
                                            "source of funds {t}", "you want to know where my money is from")),
    "balance_not_updated_after_cheque_or_cash_deposit": ("top_up", ("my balance didn't update after a cash {t}",
                                                                    "the cheque {t} is not in my balance",
                                                                    "deposited a cheque but the balance is the same",
                                                                    "cash {t} not showing")),
    "extra_charge_on_statement": ("payment", ("there is an extra charge on my statement",
                                              "I was charged twice for a {t}", "duplicate {t} on my statement",
                                              "the same {t} appears two times")),
    "cash_withdrawal_limit": ("withdrawal", ("how much cash can I take out", "what is the limit for a {t}",
                                             "maximum {t} per day", "is there a limit on {t}s")),
    "card_payment_in_foreign_currency": ("payment", ("can I pay in another currency with my card",
                                                     "what happens with a {t} in dollars",
                                                     "is there a fee for a {t} abroad",
                                                     "{t} in a foreign currency")),
    "topping_up_by_card": ("top_up", ("can I {t} with my card", "how do I {t} using a debit card",
                                      "{t} by card", "which card can I use to {t}")),
    "change_account_currency": ("account", ("can I change the currency of my {t}",
                                            "I want my {t} in euros", "switch the main currency of the {t}",
                                            "set another currency for my {t}")),
    "account_frozen": ("account", ("my {t} has been frozen", "why is my {t} blocked", "I can't access my {t}",
                                   "you suspended my {t}")),
}

FRAMES = ("{c}", "{c}?", "{c}.", "Hi, {c}.", "Hello, {c}, can you help?", "I need help: {c}", "{c}. What should I do?",
          "Please help, {c}", "Quick question: {c}", "hey {c}", "Can you tell me, {c}?", "{c}!! please answer",
          "Good morning. {c}. Thanks", "{x}, {c}", "{c}, {x}", "{c}. {x}.")
EXTRAS = ("it's been three days", "I'm in Spain right now", "I used the app", "this is urgent", "thanks",
          "yesterday", "I'm a new customer", "this happened twice", "I checked twice", "on the website",
          "last week", "I'm travelling", "my friend has the same problem", "this morning")


def banking_corpus(n_sentences: int = 10_000, seed: int = 0, test: bool = False, typo_share: float = 0.15,
                   generic_share: float = 0.04) -> LabelledTexts:
    """``n_sentences`` generated banking-support sentences spread over 77 intents (unequal sizes).

    ``seed`` picks everything. Training sets (``test=False``) never use an intent's last phrasing;
    test sets use all of them, so about a quarter of test sentences are paraphrases never seen in
    training, as in real corpora. ``typo_share`` of the sentences get keyboard typos in a fifth of
    their words; ``generic_share`` use a phrasing that is generic for the intent's topic.
    """
    rng = random.Random(seed)
    names = sorted(INTENTS)
    weights = [0.5 + random.Random(f"weight-{name}").random() for name in names]  # fixed, unequal class sizes
    texts, labels = [], []
    for label in rng.choices(names, weights, k=n_sentences):
        topic, phrasings = INTENTS[label]
        core = rng.choice(GENERIC[topic] if rng.random() < generic_share else phrasings if test else phrasings[:-1])
        core = core.replace("{t}", rng.choice(TOPICS[topic]))
        text = rng.choice(FRAMES).replace("{c}", core).replace("{x}", rng.choice(EXTRAS))
        if rng.random() < 0.3:
            text = text.lower()
        if rng.random() < typo_share:
            text = add_typos(text, 0.2, rng.randrange(2**31))
        texts.append(text)
        labels.append(label)
    return LabelledTexts(tuple(texts), tuple(labels), f"banking-style generated corpus (seed {seed})")
