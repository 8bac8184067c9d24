"""Deterministic generator of realistic e-commerce orders across 15 European markets.

The orders are Shopify-like (simplified) and feed the examples, the tests and the order fan-out
benchmark. The same ``seed`` and ``count`` always give the same orders, byte for byte: all
randomness comes from one ``random.Random(seed)``, no wall clock is read, and no iteration order
depends on hashing.

Use it as a library::

    from generate_orders import generate
    for order in generate(1200, seed=7): ...

or from the command line (JSON Lines, one compact object per line)::

    python examples/generate_orders.py --count 1200 --seed 7 --out examples/data/orders.jsonl

``generate`` yields one dict at a time and ``write_jsonl`` streams them to the file in small
batches, so memory stays constant however many orders are asked for. Each order's keys and their
meaning are described by ``schemas/examples/shop-order.json``.
"""

# The data uses real typography on purpose (multiplication signs, en dashes in sizes and notes).

from __future__ import annotations

import argparse
import bisect
import functools
import itertools
import math
import random
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import orjson

_T = TypeVar("_T")

__all__ = ["FIRST_ORDER_ID", "MARKETS", "generate", "main", "write_jsonl"]

FIRST_ORDER_ID = 100001
FIRST_CUSTOMER_ID = 7000001

# Orders are spread over October and November 2026 (UTC bounds chosen so that every local
# timestamp, whatever the market's offset, still falls on a day in October or November).
_START = int(datetime(2026, 10, 1, 0, 0, tzinfo=UTC).timestamp())
_END = int(datetime(2026, 11, 30, 21, 0, tzinfo=UTC).timestamp())
# Summer time ends in the whole EU at 01:00 UTC on the last Sunday of October.
_DST_END = int(datetime(2026, 10, 25, 1, 0, tzinfo=UTC).timestamp())

# A market must not go unseen this long, so any 1000 consecutive orders hold all 15 markets:
# overdue markets are detected every _CHECK_EVERY orders and forced within 15 more orders.
_MAX_GAP = 900
_CHECK_EVERY = 64

_REPEAT_CUSTOMER_SHARE = 0.2  # orders placed by a customer seen earlier (bounded pool)
_POOL_SIZE = 400  # recent customers remembered per market
_B2B_SHARE = 0.3
_SHIPPING_DIFFERS_SHARE = 0.15
_NOTE_SHARE = 0.1
_MARKETING_SHARE = 0.45


@dataclass(frozen=True, slots=True)
class Market:
    """Static facts about one market: money, language, formats, carriers."""

    code: str
    currency: str
    tax_rate: float
    locale: str
    tld: str
    weight: int
    std_offset_hours: int  # winter offset; summer time adds one hour
    phone_pattern: str  # '#' is a random digit
    vat_prefix: str
    vat_digits: int
    vat_suffix: str
    shipping: tuple[tuple[str, int], ...]  # (carrier, price in minor units)
    free_shipping_from: int  # order subtotal in minor units
    channels: tuple[tuple[str, int], ...]  # (channel, weight)
    language: str


_WEB = (("shopify", 75), ("woocommerce", 25))

# Market(code, currency, VAT rate, locale, e-mail TLD, weight, winter UTC offset, phone pattern,
#        VAT prefix, VAT digits, VAT suffix, carriers with fees, free shipping from, channels,
#        language of titles and notes)
MARKETS: tuple[Market, ...] = (
    Market("PL", "PLN", 0.23, "pl-PL", "pl", 26, 1, "+48 5## ### ###", "PL", 10, "",
           (("inpost", 1299), ("dpd", 1699), ("dhl", 1899), ("gls", 1599)), 39900,
           (("shopify", 45), ("woocommerce", 20), ("allegro", 35)), "pl"),
    Market("DE", "EUR", 0.19, "de-DE", "de", 22, 1, "+49 15# ########", "DE", 9, "",
           (("dhl", 499), ("dpd", 549), ("gls", 449), ("ups", 790)), 9900, _WEB, "de"),
    Market("CZ", "CZK", 0.21, "cs-CZ", "cz", 6, 1, "+420 6## ### ###", "CZ", 8, "",
           (("dpd", 11900), ("gls", 9900), ("dhl", 13900)), 249000, _WEB, "cs"),
    Market("SK", "EUR", 0.23, "sk-SK", "sk", 3, 1, "+421 9## ### ###", "SK", 10, "",
           (("dpd", 450), ("gls", 390), ("dhl", 590)), 9900, _WEB, "sk"),
    Market("HU", "HUF", 0.27, "hu-HU", "hu", 4, 1, "+36 30 ### ####", "HU", 8, "",
           (("gls", 199000), ("dpd", 229000), ("dhl", 259000)), 3500000, _WEB, "hu"),
    Market("RO", "RON", 0.21, "ro-RO", "ro", 5, 2, "+40 7## ### ###", "RO", 8, "",
           (("dpd", 1999), ("gls", 1799), ("dhl", 2499)), 49900, _WEB, "ro"),
    Market("LT", "EUR", 0.21, "lt-LT", "lt", 2, 2, "+370 6## #####", "LT", 9, "",
           (("dpd", 499), ("dhl", 699), ("ups", 899)), 9900, _WEB, "lt"),
    Market("LV", "EUR", 0.21, "lv-LV", "lv", 2, 2, "+371 2### ####", "LV", 11, "",
           (("dpd", 499), ("dhl", 699), ("ups", 899)), 9900, _WEB, "lv"),
    Market("EE", "EUR", 0.24, "et-EE", "ee", 2, 2, "+372 5### ####", "EE", 9, "",
           (("dpd", 499), ("dhl", 699), ("ups", 899)), 9900, _WEB, "et"),
    Market("AT", "EUR", 0.2, "de-AT", "at", 5, 1, "+43 664 #######", "ATU", 8, "",
           (("dhl", 590), ("gls", 490), ("dpd", 550), ("ups", 890)), 9900, _WEB, "de"),
    Market("FR", "EUR", 0.2, "fr-FR", "fr", 9, 1, "+33 6 ## ## ## ##", "FR", 11, "",
           (("ups", 890), ("dpd", 690), ("dhl", 790), ("gls", 650)), 9900, _WEB, "fr"),
    Market("IT", "EUR", 0.22, "it-IT", "it", 7, 1, "+39 3## ### ####", "IT", 11, "",
           (("gls", 790), ("dhl", 890), ("ups", 990)), 9900, _WEB, "it"),
    Market("ES", "EUR", 0.21, "es-ES", "es", 6, 1, "+34 6## ## ## ##", "ESB", 8, "",
           (("dhl", 699), ("ups", 899), ("gls", 599)), 9900, _WEB, "es"),
    Market("NL", "EUR", 0.21, "nl-NL", "nl", 5, 1, "+31 6 ########", "NL", 9, "B01",
           (("dhl", 495), ("ups", 795), ("dpd", 595)), 7500, _WEB, "nl"),
    Market("SE", "SEK", 0.25, "sv-SE", "se", 4, 1, "+46 7# ### ## ##", "SE", 10, "01",
           (("dhl", 5900), ("ups", 8900), ("dpd", 6900)), 99900, _WEB, "sv"),
)
_CODES = tuple(m.code for m in MARKETS)

# --- people ---------------------------------------------------------------------------------
# Per market: male first names, female first names, surnames as "male" or "male|female" where
# the language inflects surnames by gender.

_PEOPLE: dict[str, tuple[str, str, str]] = {
    "PL": (
        "Łukasz Piotr Krzysztof Tomasz Paweł Michał Marcin Jakub Grzegorz Wojciech Mateusz "
        "Bartłomiej",
        "Anna Katarzyna Małgorzata Agnieszka Magdalena Joanna Zofia Aleksandra Dorota Ewa "
        "Barbara Żaneta",
        "Wójcik Kowalski|Kowalska Nowak Wiśniewski|Wiśniewska Lewandowski|Lewandowska "
        "Kamiński|Kamińska Zieliński|Zielińska Szymański|Szymańska Woźniak Dąbrowski|Dąbrowska "
        "Kozłowski|Kozłowska Jankowski|Jankowska Mazur Krawczyk Grabowski|Grabowska "
        "Pawłowski|Pawłowska",
    ),
    "DE": (
        "Jürgen Lukas Maximilian Stefan Thomas Andreas Matthias Jörg Felix Tobias Sebastian "
        "Florian",
        "Anna Lea Sophie Katharina Julia Sabine Jana Hannah Birgit Ursula Lena Mia",
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch "
        "Bauer Richter Klein Wolf Schröder Neumann Zimmermann Krüger Weiß Groß",
    ),
    "CZ": (
        "Jiří Jan Petr Josef Pavel Martin Tomáš Jaroslav Miroslav Zdeněk Lukáš Ondřej",
        "Jana Marie Eva Hana Anna Lenka Kateřina Lucie Věra Alena Petra Tereza",
        "Novák|Nováková Svoboda|Svobodová Novotný|Novotná Dvořák|Dvořáková Černý|Černá "
        "Procházka|Procházková Kučera|Kučerová Veselý|Veselá Horák|Horáková Němec|Němcová "
        "Marek|Marková Pokorný|Pokorná Růžička|Růžičková",
    ),
    "SK": (
        "Peter Ján Jozef Michal Martin Tomáš Marek Ľubomír Štefan Dušan Matej Juraj",
        "Mária Zuzana Katarína Jana Lucia Ivana Martina Ľudmila Veronika Monika Simona Dominika",
        "Horváth|Horváthová Kováč|Kováčová Varga|Vargová Tóth|Tóthová Nagy|Nagyová "
        "Baláž|Balážová Szabó|Szabóová Molnár|Molnárová Lukáč|Lukáčová Šimko|Šimková "
        "Kollár|Kollárová Oravec|Oravcová",
    ),
    "HU": (
        "Ádám László István József Zoltán Gábor Péter Tamás Bence Máté Dávid Balázs",
        "Anna Katalin Erzsébet Zsófia Eszter Réka Júlia Ildikó Krisztina Tünde Noémi Boglárka",
        "Szőke Nagy Kovács Tóth Szabó Horváth Varga Kiss Molnár Németh Farkas Balogh Papp "
        "Lakatos Takács Juhász Mészáros Fekete",
    ),
    "RO": (
        "Ștefan Andrei Alexandru Mihai Ion Gheorghe Constantin Bogdan Cristian Răzvan Vlad Tudor",
        "Maria Elena Ioana Andreea Ana Mihaela Cristina Alexandra Raluca Bianca Irina Oana",
        "Popescu Ionescu Popa Pop Radu Dumitru Stan Stoica Gheorghe Matei Ciobanu Munteanu "
        "Constantinescu Moldovan Lupu Țăranu Mureșan Dumitrescu",
    ),
    "LT": (
        "Žygimantas Jonas Mantas Lukas Tomas Darius Andrius Mindaugas Paulius Vytautas Gintaras "
        "Kęstutis",
        "Rūta Eglė Ieva Greta Gabija Austėja Aušra Jurgita Lina Simona Kristina Inga",
        "Kazlauskas|Kazlauskienė Jankauskas|Jankauskienė Petrauskas|Petrauskienė "
        "Stankevičius|Stankevičienė Vasiliauskas|Vasiliauskienė Žukauskas|Žukauskienė "
        "Butkus|Butkienė Paulauskas|Paulauskienė Urbonas|Urbonienė Kavaliauskas|Kavaliauskienė "
        "Baranauskas|Baranauskienė Navickas|Navickienė",
    ),
    "LV": (
        "Jānis Andris Edgars Māris Kārlis Roberts Artūrs Mārtiņš Gints Valdis Raimonds Dāvis",
        "Anna Līga Ilze Kristīne Inese Laura Dace Zane Santa Agnese Elīna Marta",
        "Bērziņš|Bērziņa Kalniņš|Kalniņa Ozoliņš|Ozoliņa Jansons|Jansone Ozols|Ozola "
        "Liepiņš|Liepiņa Krūmiņš|Krūmiņa Balodis|Balode Pētersons|Pētersone Vītols|Vītola "
        "Zariņš|Zariņa Kļaviņš|Kļaviņa",
    ),
    "EE": (
        "Jüri Andres Mart Toomas Rein Margus Priit Tõnu Siim Rasmus Kristjan Märt",
        "Kadri Mari Tiina Kati Liis Triin Kärt Maarja Anu Eha Helen Sirje",
        "Tamm Saar Sepp Mägi Kask Kukk Rebane Ilves Pärn Koppel Lepik Oja Kõiv Raudsepp",
    ),
    "AT": (
        "Lukas Florian Johann Franz Matthias Stefan Alexander Markus Dominik Georg Wolfgang "
        "Andreas",
        "Anna Lena Katharina Theresa Johanna Elisabeth Magdalena Sarah Viktoria Julia Barbara "
        "Lisa",
        "Gruber Huber Bauer Wagner Müller Pichler Steiner Moser Mayer Hofer Leitner Berger Fuchs "
        "Eder Fischer Schwarz Wimmer Egger Strauß",
    ),
    "FR": (
        "Jérôme François Luc Antoine Nicolas Julien Thomas Mathieu Benoît Cédric Hugo Théo",
        "Renée Camille Léa Chloé Manon Élodie Hélène Margaux Inès Sophie Amélie Céline",
        "Lefèvre Martin Bernard Dubois Durand Moreau Laurent Girard Bonnet Faure Rousseau "
        "Mercier Fontaine Chevalier Lemaître Roux Fournier Garnier",
    ),
    "IT": (
        "Giuseppe Marco Luca Alessandro Francesco Matteo Lorenzo Andrea Niccolò Davide Riccardo "
        "Stefano",
        "Giulia Francesca Chiara Sara Martina Alessia Federica Elena Valentina Beatrice Ilaria "
        "Lucrezia",
        "Esposito Rossi Russo Ferrari Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo "
        "Conti De_Luca Mancini Costa D'Angelo Fabbri",
    ),
    "ES": (
        "José Javier Alejandro Pablo Álvaro Sergio Jesús Manuel Andrés Ramón Íñigo Adrián",
        "María Lucía Carmen Sofía Paula Elena Marta Laura Inés Begoña Nuria Ángela",
        "Muñoz García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Jiménez "
        "Ruiz Hernández Díaz Moreno Álvarez Romero Ibáñez",
    ),
    "NL": (
        "Daan Bram Sem Lucas Jeroen Thijs Ruben Pieter Joost Maarten Bas Daniël",
        "Sanne Emma Julia Lotte Femke Anouk Eva Iris Noor Fleur Marloes Chloë",
        "de_Vries de_Jong Jansen van_den_Berg Bakker Visser Smit Meijer de_Boer Mulder van_Dijk "
        "Bos Vos Peters Hendriks van_Leeuwen Dekker Brouwer",
    ),
    "SE": (
        "Lars Anders Johan Erik Karl Per Mikael Björn Göran Måns Nils Olof",
        "Åsa Anna Eva Maria Karin Kristina Lena Sofia Ingrid Linnéa Maja Elin",
        "Sjöström Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson "
        "Gustafsson Lindström Lindqvist Åberg Bergström Ström Söderberg Holmgren",
    ),
}

# Legal-form templates for company names; {last} is a surname (male form).
_COMPANIES: dict[str, tuple[str, ...]] = {
    "PL": ("{last} i Synowie Sp. z o.o.", "{last} Sp. z o.o.", "P.H.U. {last}",
           "{last} Sp. j.", "{last} Logistyka S.A."),
    "DE": ("{last} Handels GmbH", "{last} & Söhne KG", "{last} GmbH & Co. KG",
           "{last} Technik AG", "Bäckerei {last} e.K."),
    "CZ": ("{last} s.r.o.", "{last} a syn, s.r.o.", "{last} Trading a.s."),
    "SK": ("{last} s.r.o.", "{last} & spol., s.r.o.", "{last} Slovakia a.s."),
    "HU": ("{last} Kft.", "{last} és Társa Bt.", "{last} Zrt."),
    "RO": ("{last} Impex S.R.L.", "{last} Construct S.R.L.", "{last} & Fiii S.A."),
    "LT": ("UAB „{last}“", "{last} ir partneriai, UAB", "AB „{last} prekyba“"),
    "LV": ("SIA „{last}“", "{last} un partneri SIA", "AS „{last} tirdzniecība“"),
    "EE": ("{last} OÜ", "{last} ja Pojad OÜ", "{last} Grupp AS"),
    "AT": ("{last} GmbH", "{last} & Co KG", "{last} Handel GmbH"),
    "FR": ("{last} SARL", "{last} et Fils SAS", "Établissements {last}"),
    "IT": ("{last} S.r.l.", "{last} & Figli S.p.A.", "{last} Forniture S.r.l."),
    "ES": ("{last} S.L.", "Hermanos {last} S.A.", "Distribuciones {last} S.L."),
    "NL": ("{last} B.V.", "{last} Holding B.V.", "Bouwbedrijf {last} B.V."),
    "SE": ("{last} AB", "{last} Handel AB", "{last} & Söner AB"),
}

# --- addresses ------------------------------------------------------------------------------
# Streets: {n} is a house number, {a} a flat number, {f} a floor.
# Cities: "name=zip pattern" where '#' is a digit and '@' an upper-case letter.

_STREETS: dict[str, tuple[str, ...]] = {
    "PL": ("ul. Marszałkowska {n}", "ul. Piotrkowska {n}/{a}", "ul. Długa {n}",
           "al. Jerozolimskie {n}", "ul. Świętokrzyska {n}", "ul. Żeromskiego {n}/{a}",
           "ul. Kościuszki {n}", "ul. Mickiewicza {n}/{a}", "ul. Słowackiego {n}",
           "ul. Wrocławska {n}"),
    "DE": ("Hauptstraße {n}", "Schillerstraße {n}", "Goethestraße {n}", "Bahnhofstraße {n}",
           "Am Marktplatz {n}", "Lindenallee {n}", "Gartenweg {n}", "Müllerstraße {n}",
           "Königsallee {n}", "Friedrichstraße {n}"),
    "CZ": ("Náměstí Míru {n}", "Vinohradská {n}", "Národní {n}", "Husova {n}", "Masarykova {n}",
           "Palackého {n}", "Žižkova {n}", "Komenského {n}", "Nádražní {n}", "Smetanova {n}"),
    "SK": ("Obchodná {n}", "Štúrova {n}", "Hlavná {n}", "Námestie SNP {n}",
           "Hviezdoslavova {n}", "Mlynské nivy {n}", "Dlhá {n}", "Záhradnícka {n}",
           "Šancová {n}", "Račianska {n}"),
    "HU": ("Kossuth Lajos utca {n}.", "Andrássy út {n}.", "Petőfi Sándor utca {n}.",
           "Rákóczi út {n}.", "Váci utca {n}.", "Széchenyi tér {n}.", "Dózsa György út {n}.",
           "Ady Endre utca {n}.", "Bajcsy-Zsilinszky út {n}.", "Árpád fejedelem útja {n}."),
    "RO": ("Strada Victoriei {n}", "Bulevardul Unirii {n}", "Strada Lipscani {n}",
           "Calea Moșilor {n}", "Strada Mihai Eminescu {n}", "Bulevardul Ștefan cel Mare {n}",
           "Strada Florilor {n}", "Aleea Trandafirilor {n}", "Strada Republicii {n}",
           "Bulevardul Independenței {n}"),
    "LT": ("Gedimino pr. {n}", "Pilies g. {n}", "Laisvės al. {n}", "Vilniaus g. {n}",
           "Konstitucijos pr. {n}", "Savanorių pr. {n}", "Žalgirio g. {n}", "Taikos pr. {n}",
           "Kauno g. {n}", "Didžioji g. {n}"),
    "LV": ("Brīvības iela {n}", "Elizabetes iela {n}", "Krišjāņa Barona iela {n}",
           "Tērbatas iela {n}", "Dzirnavu iela {n}", "Lāčplēša iela {n}", "Gertrūdes iela {n}",
           "Valdemāra iela {n}", "Rīgas iela {n}", "Skolas iela {n}"),
    "EE": ("Narva mnt {n}", "Pärnu mnt {n}", "Tartu mnt {n}", "Viru tänav {n}", "Liivalaia {n}",
           "Rüütli {n}", "Kalevi {n}", "Jõe {n}", "Mere pst {n}", "Sõpruse pst {n}"),
    "AT": ("Mariahilfer Straße {n}", "Kärntner Straße {n}", "Landstraßer Hauptstraße {n}",
           "Herrengasse {n}", "Getreidegasse {n}", "Hauptplatz {n}", "Linzer Straße {n}",
           "Wiedner Hauptstraße {n}/{a}", "Schönbrunner Straße {n}/{a}", "Grabenweg {n}"),
    "FR": ("{n} rue de la Paix", "{n} avenue des Champs-Élysées", "{n} boulevard Saint-Germain",
           "{n} rue Victor Hugo", "{n} place de la République",
           "{n} rue du Faubourg Saint-Honoré", "{n} allée des Tilleuls", "{n} rue de l'Église",
           "{n} chemin des Vignes", "{n} quai de la Loire"),
    "IT": ("Via Roma {n}", "Via Garibaldi {n}", "Corso Vittorio Emanuele II {n}",
           "Via Dante Alighieri {n}", "Piazza del Popolo {n}", "Via Nazionale {n}",
           "Viale Giuseppe Mazzini {n}", "Via Cavour {n}", "Via XX Settembre {n}",
           "Via dei Mille {n}"),
    "ES": ("Calle Mayor {n}", "Gran Vía {n}", "Calle de Alcalá {n}", "Paseo de la Castellana {n}",
           "Avenida de la Constitución {n}", "Calle del Sol {n}, {f}º", "Plaza de España {n}",
           "Calle Real {n}", "Rambla de Catalunya {n}, {f}º", "Calle de Cervantes {n}"),
    "NL": ("Kalverstraat {n}", "Damrak {n}", "Prinsengracht {n}", "Coolsingel {n}",
           "Oudegracht {n}", "Stationsweg {n}", "Kerkstraat {n}", "Dorpsstraat {n}",
           "Hoofdstraat {n}", "Molenweg {n}"),
    "SE": ("Drottninggatan {n}", "Kungsgatan {n}", "Storgatan {n}", "Sveavägen {n}",
           "Götgatan {n}", "Vasagatan {n}", "Södra Förstadsgatan {n}", "Östra Hamngatan {n}",
           "Skolgatan {n}", "Järnvägsgatan {n}"),
}

_CITIES: dict[str, tuple[str, ...]] = {
    "PL": ("Warszawa=0#-###", "Kraków=3#-###", "Wrocław=5#-###", "Poznań=6#-###",
           "Gdańsk=80-###", "Łódź=9#-###", "Katowice=40-###", "Lublin=20-###",
           "Szczecin=70-###", "Białystok=15-###"),
    "DE": ("Berlin=10###", "München=80###", "Hamburg=20###", "Köln=50###",
           "Frankfurt am Main=60###", "Stuttgart=70###", "Düsseldorf=40###", "Leipzig=04###",
           "Dresden=01###", "Nürnberg=90###", "Bremen=28###", "Hannover=30###"),
    "CZ": ("Praha=1#0 00", "Brno=6## 00", "Ostrava=7## 00", "Plzeň=3## 00", "Olomouc=779 00",
           "České Budějovice=370 0#", "Liberec=460 0#", "Hradec Králové=500 0#"),
    "SK": ("Bratislava=8#1 0#", "Košice=040 0#", "Žilina=010 0#", "Prešov=080 0#",
           "Nitra=949 0#", "Banská Bystrica=974 0#", "Trnava=917 0#", "Trenčín=911 0#"),
    "HU": ("Budapest=1###", "Debrecen=40##", "Szeged=67##", "Miskolc=35##", "Pécs=76##",
           "Győr=90##", "Nyíregyháza=44##", "Kecskemét=60##", "Székesfehérvár=80##"),
    "RO": ("București=0#####", "Cluj-Napoca=400###", "Timișoara=300###", "Iași=700###",
           "Constanța=900###", "Brașov=500###", "Craiova=200###", "Galați=800###",
           "Oradea=410###"),
    "LT": ("Vilnius=LT-0####", "Kaunas=LT-4####", "Klaipėda=LT-9####", "Šiauliai=LT-7####",
           "Panevėžys=LT-3####", "Alytus=LT-6####"),
    "LV": ("Rīga=LV-10##", "Daugavpils=LV-54##", "Liepāja=LV-34##", "Jelgava=LV-30##",
           "Jūrmala=LV-20##", "Ventspils=LV-36##", "Rēzekne=LV-46##", "Valmiera=LV-42##"),
    "EE": ("Tallinn=1####", "Tartu=5####", "Narva=2####", "Pärnu=8####", "Kohtla-Järve=3####",
           "Viljandi=71###", "Rakvere=44###", "Kuressaare=93###"),
    "AT": ("Wien=1##0", "Graz=80##", "Linz=40##", "Salzburg=50##", "Innsbruck=60##",
           "Klagenfurt=90##", "Villach=95##", "Wels=46##", "St. Pölten=31##"),
    "FR": ("Paris=750##", "Marseille=130##", "Lyon=6900#", "Toulouse=310##", "Nice=06#00",
           "Nantes=440##", "Strasbourg=670##", "Montpellier=340##", "Bordeaux=330##",
           "Lille=590##"),
    "IT": ("Roma=001##", "Milano=201##", "Napoli=801##", "Torino=101##", "Palermo=901##",
           "Genova=161##", "Bologna=401##", "Firenze=501##", "Venezia=301##", "Bari=701##"),
    "ES": ("Madrid=280##", "Barcelona=080##", "Valencia=460##", "Sevilla=410##",
           "Zaragoza=500##", "Málaga=290##", "Bilbao=480##", "Murcia=300##",
           "Palma=070##", "A Coruña=150##"),
    "NL": ("Amsterdam=10## @@", "Rotterdam=30## @@", "Den Haag=25## @@", "Utrecht=35## @@",
           "Eindhoven=56## @@", "Groningen=97## @@", "Tilburg=50## @@", "Almere=13## @@",
           "Breda=48## @@", "Nijmegen=65## @@"),
    "SE": ("Stockholm=1## ##", "Göteborg=41# ##", "Malmö=21# ##", "Uppsala=75# ##",
           "Västerås=72# ##", "Örebro=70# ##", "Linköping=58# ##", "Helsingborg=25# ##",
           "Jönköping=55# ##", "Umeå=90# ##"),
}

# Dutch postcodes never use the letter pairs SA, SD and SS; leaving S out avoids them all.
_POSTCODE_LETTERS = "ABCDEGHJKLMNPRTVWXZ"

# --- products -------------------------------------------------------------------------------
# One catalogue sold in every market with localised titles. Prices are in euro cents and are
# converted into local price points per currency.

# language -> titles in catalogue order
_TITLES: dict[str, tuple[str, ...]] = {
    "pl": ("Kubek ceramiczny", "Koszulka bawełniana", "Ściereczka lniana", "Skarpety wełniane",
           "Świeca zapachowa", "Notes w kratkę", "Torba płócienna", "Kawa ziarnista",
           "Deska do krojenia z bambusa", "Butelka na wodę", "Bluza z kapturem", "Pled wełniany"),
    "de": ("Kaffeebecher Keramik", "Baumwoll-T-Shirt", "Geschirrtuch aus Leinen", "Wollsocken",
           "Duftkerze", "Notizbuch kariert", "Stofftasche", "Kaffeebohnen",
           "Schneidebrett aus Bambus", "Trinkflasche", "Kapuzenpullover", "Wolldecke"),
    "cs": ("Keramický hrnek", "Bavlněné tričko", "Lněná utěrka", "Vlněné ponožky",
           "Vonná svíčka", "Zápisník čtverečkovaný", "Plátěná taška", "Zrnková káva",
           "Bambusové prkénko", "Láhev na vodu", "Mikina s kapucí", "Vlněná deka"),
    "sk": ("Keramický hrnček", "Bavlnené tričko", "Ľanová utierka", "Vlnené ponožky",
           "Vonná sviečka", "Štvorčekový zápisník", "Plátená taška", "Zrnková káva",
           "Bambusová doska na krájanie", "Fľaša na vodu", "Mikina s kapucňou", "Vlnená deka"),
    "hu": ("Kerámia bögre", "Pamut póló", "Len konyharuha", "Gyapjú zokni", "Illatgyertya",
           "Kockás jegyzetfüzet", "Vászontáska", "Szemes kávé", "Bambusz vágódeszka", "Kulacs",
           "Kapucnis pulóver", "Gyapjú takaró"),
    "ro": ("Cană ceramică", "Tricou din bumbac", "Prosop de bucătărie din in",
           "Șosete de lână", "Lumânare parfumată", "Caiet cu pătrățele", "Sacoșă din pânză",
           "Cafea boabe", "Tocător din bambus", "Sticlă de apă", "Hanorac cu glugă",
           "Pătură de lână"),
    "lt": ("Keraminis puodelis", "Medvilniniai marškinėliai", "Lininis rankšluostis",
           "Vilnonės kojinės", "Kvapioji žvakė", "Užrašų knygelė langeliais",
           "Drobinis krepšys", "Kavos pupelės", "Bambukinė pjaustymo lentelė", "Gertuvė",
           "Džemperis su gobtuvu", "Vilnonis pledas"),
    "lv": ("Keramikas krūze", "Kokvilnas T-krekls", "Lina virtuves dvielis", "Vilnas zeķes",
           "Aromātiskā svece", "Rūtiņu piezīmju grāmatiņa", "Auduma soma", "Kafijas pupiņas",
           "Bambusa griešanas dēlītis", "Ūdens pudele", "Džemperis ar kapuci", "Vilnas pleds"),
    "et": ("Keraamiline kruus", "Puuvillane T-särk", "Linane köögirätik", "Villased sokid",
           "Lõhnaküünal", "Ruuduline märkmik", "Riidest kott", "Kohvioad",
           "Bambusest lõikelaud", "Joogipudel", "Kapuutsiga pusa", "Villane pleed"),
    "fr": ("Mug en céramique", "T-shirt en coton", "Torchon en lin", "Chaussettes en laine",
           "Bougie parfumée", "Carnet à carreaux", "Sac en toile", "Café en grains",
           "Planche à découper en bambou", "Gourde", "Sweat à capuche", "Plaid en laine"),
    "it": ("Tazza in ceramica", "Maglietta in cotone", "Strofinaccio di lino",
           "Calzini di lana", "Candela profumata", "Quaderno a quadretti", "Borsa di tela",
           "Caffè in grani", "Tagliere in bambù", "Borraccia", "Felpa con cappuccio",
           "Coperta di lana"),
    "es": ("Taza de cerámica", "Camiseta de algodón", "Paño de cocina de lino",
           "Calcetines de lana", "Vela aromática", "Cuaderno cuadriculado", "Bolsa de tela",
           "Café en grano", "Tabla de cortar de bambú", "Botella de agua",
           "Sudadera con capucha", "Manta de lana"),
    "nl": ("Keramische mok", "Katoenen T-shirt", "Linnen theedoek", "Wollen sokken",
           "Geurkaars", "Geruit notitieboek", "Canvas tas", "Koffiebonen", "Bamboe snijplank",
           "Drinkfles", "Hoodie", "Wollen plaid"),
    "sv": ("Keramikmugg", "T-shirt i bomull", "Kökshandduk i linne", "Ullsockor", "Doftljus",
           "Rutig anteckningsbok", "Tygkasse", "Kaffebönor", "Skärbräda i bambu",
           "Vattenflaska", "Huvtröja", "Ullpläd"),
}

# language -> how a clothing size is written after the title
_SIZE_FORMAT: dict[str, str] = {
    "pl": "{t}, rozmiar {v}", "de": "{t} Größe {v}", "cs": "{t}, velikost {v}",
    "sk": "{t}, veľkosť {v}", "hu": "{t}, {v} méret", "ro": "{t}, mărimea {v}",
    "lt": "{t}, dydis {v}", "lv": "{t}, izmērs {v}", "et": "{t}, suurus {v}",
    "fr": "{t}, taille {v}", "it": "{t}, taglia {v}", "es": "{t}, talla {v}",
    "nl": "{t}, maat {v}", "sv": "{t}, storlek {v}",
}

_SIZES = (("S", 0), ("M", 0), ("L", 0), ("XL", 200))

# (euro cents, variants as (label, extra cents), variants are clothing sizes)
_CATALOGUE: tuple[tuple[int, tuple[tuple[str, int], ...], bool], ...] = (
    (1299, (("350 ml", 0), ("450 ml", 200)), False),
    (2490, _SIZES, True),
    (990, (("50 × 70 cm", 0),), False),
    (1490, (("36–40", 0), ("41–46", 0)), False),
    (1990, (("200 g", 0), ("400 g", 1000)), False),
    (890, (("A5", 0), ("A4", 300)), False),
    (1500, (("", 0),), False),
    (1190, (("250 g", 0), ("1 kg", 2800)), False),
    (3490, (("30 × 20 cm", 0), ("40 × 30 cm", 1000)), False),
    (1990, (("500 ml", 0), ("750 ml", 300)), False),
    (5990, _SIZES, True),
    (12000, (("130 × 170 cm", 0), ("150 × 200 cm", 3000)), False),
)

# currency -> (euro rate, rounding step in minor units, amount below the step boundary)
# e.g. PLN: multiply, round up to a whole złoty, then take off 1 grosz -> 55.99.
_PRICE_POINTS: dict[str, tuple[float, int, int]] = {
    "EUR": (1.0, 1, 0),
    "PLN": (4.3, 100, 1),
    "CZK": (25.0, 1000, 100),
    "HUF": (400.0, 10000, 1000),
    "RON": (5.0, 100, 1),
    "SEK": (11.5, 1000, 100),
}

# --- notes ----------------------------------------------------------------------------------

_NOTES_COMMON: tuple[str, ...] = (
    'Please leave the parcel at the "back door", thanks!',
    "Gift 🎁 – please no invoice in the box",
    "Deliver after 5 pm, please.\nRing twice.",
    "Urgent!!! Birthday on Friday 🎂",
    "Same as last time, but 2x the coffee ☕",
    "Company order, PO #4471-B, attn: Accounts Payable",
)
_NOTES: dict[str, tuple[str, ...]] = {
    "pl": ("Proszę dzwonić przed dostawą, domofon nie działa.",
           "Faktura na firmę,\nNIP podany w zamówieniu",
           'Paczkomat „WAW123M”, dziękuję 🙂'),
    "de": ("Bitte beim Nachbarn abgeben, falls niemand da ist.",
           'Geschenk – bitte "ohne Rechnung" im Paket 🎁', "Lieferung bitte ab 18 Uhr."),
    "cs": ("Prosím zavolat před doručením.", "Dárek, prosím zabalit 🎁"),
    "sk": ("Prosím, doručiť do práce, nie domov.", "Zvoniť na „Horváth“, 3. poschodie"),
    "hu": ("Kérem, csengessen kétszer!", "Ajándék, kérem számla nélkül 🎁"),
    "ro": ("Vă rog sunați înainte de livrare.", "Cadou – fără factură în colet, mulțumesc!"),
    "lt": ("Prašau skambinti prieš pristatant.", "Dovana 🎁, ačiū!"),
    "lv": ("Lūdzu, zvaniet pirms piegādes.", "Dāvana, lūdzu, bez čeka 🎁"),
    "et": ("Palun helistage enne kohaletoimetamist.", "Kingitus 🎁, aitäh!"),
    "fr": ("C'est un cadeau 🎄, merci !", 'Code porte : 4512B, 3e étage, "gauche"'),
    "it": ("Citofonare \"Esposito\", grazie.", "Consegna dopo le 18, per favore.\nGrazie!"),
    "es": ("Dejar en conserjería, por favor.", "Es un regalo 🎁, ¡sin factura, gracias!"),
    "nl": ("Graag bij de buren afgeven, nr. 12.", "Cadeautje 🎁, geen factuur meesturen a.u.b."),
    "sv": ("Lämna paketet utanför dörren, tack!", "Present 🎁 – inget kvitto, tack."),
}


# --- compiled tables ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A phone or postcode pattern compiled for fast filling ('#' digit, '@' letter)."""

    template: str  # str.format template, one {} per placeholder
    kinds: str  # the placeholders in order
    letters: bool
    scale: int  # 10 ** number of placeholders

    @classmethod
    def compile(cls, pattern: str) -> _Pattern:
        kinds = "".join(c for c in pattern if c in "#@")
        template = "".join("{}" if c in "#@" else c for c in pattern)
        return cls(template, kinds, "@" in kinds, 10 ** len(kinds))


@dataclass(frozen=True, slots=True)
class _Product:
    sku: str
    title: str
    price: str  # local price, exactly two decimals
    cents: int


@dataclass(frozen=True, slots=True)
class _MarketData:
    market: Market
    people: tuple[tuple[tuple[str, str], ...], tuple[str, ...], tuple[str, ...]]
    company_lasts: tuple[str, ...]
    companies: tuple[str, ...]
    streets: tuple[str, ...]
    cities: tuple[tuple[str, _Pattern], ...]
    phone: _Pattern
    products: tuple[tuple[_Product, ...], ...]  # per catalogue entry, one per variant
    carriers: tuple[str, ...]
    carrier_prices: tuple[int, ...]
    channels: tuple[str, ...]
    channel_cum_weights: tuple[int, ...]
    notes: tuple[str, ...]
    tz_summer: timezone
    tz_winter: timezone


_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "ø": "o", "æ": "ae", "đ": "d"})


@functools.cache  # a few hundred distinct names
def _slug(name: str) -> str:
    """ASCII, lower-case form of a name for e-mail addresses: "Łukasz" -> "lukasz"."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_FOLD))
    return "".join(c for c in decomposed.lower() if c.isascii() and c.isalnum())


def _money(cents: int) -> str:
    """Minor units to a decimal string with exactly two decimals: 4999 -> "49.99"."""
    return f"{cents // 100}.{cents % 100:02d}"


def _local_cents(euro_cents: int, currency: str) -> int:
    """A euro price as a local price point (55.99 zł, 329 Kč, 5190 Ft, 149 kr)."""
    rate, step, below = _PRICE_POINTS[currency]
    raw = round(euro_cents * rate, 6)  # 1000 * 4.3 is 4300.000000000001 in floats
    return max(step, math.ceil(raw / step) * step) - below


def _compile_market(m: Market) -> _MarketData:
    males, females, surnames = _PEOPLE[m.code]
    lasts = [s.replace("_", " ") for s in surnames.split()]
    male_lasts = tuple(s.split("|")[0] for s in lasts)
    female_lasts = tuple(s.split("|")[-1] for s in lasts)
    firsts = tuple((f, "m") for f in males.split()) + tuple((f, "f") for f in females.split())
    company_lasts = male_lasts
    if m.code == "NL":  # "de Vries" starts a company name as "De Vries B.V."
        company_lasts = tuple(s[0].upper() + s[1:] for s in male_lasts)
    titles = _TITLES[m.language]
    products: list[tuple[_Product, ...]] = []
    for index, (euro, variants, sized) in enumerate(_CATALOGUE):
        entry = []
        for v, (label, extra) in enumerate(variants):
            if sized:
                title = _SIZE_FORMAT[m.language].format(t=titles[index], v=label)
            else:
                title = f"{titles[index]} {label}".rstrip()
            cents = _local_cents(euro + extra, m.currency)
            entry.append(_Product(f"SKU-{101 + index}{v + 1:02d}", title, _money(cents), cents))
        products.append(tuple(entry))
    return _MarketData(
        market=m,
        people=(firsts, male_lasts, female_lasts),
        company_lasts=company_lasts,
        companies=_COMPANIES[m.code],
        streets=_STREETS[m.code],
        cities=tuple(
            (c.partition("=")[0], _Pattern.compile(c.partition("=")[2])) for c in _CITIES[m.code]
        ),
        phone=_Pattern.compile(m.phone_pattern),
        products=tuple(products),
        carriers=tuple(c for c, _ in m.shipping),
        carrier_prices=tuple(p for _, p in m.shipping),
        channels=tuple(c for c, _ in m.channels),
        channel_cum_weights=tuple(itertools.accumulate(w for _, w in m.channels)),
        notes=_NOTES[m.language],
        tz_summer=timezone(timedelta(hours=m.std_offset_hours + 1)),
        tz_winter=timezone(timedelta(hours=m.std_offset_hours)),
    )


_DATA: tuple[_MarketData, ...] = tuple(_compile_market(m) for m in MARKETS)
_MARKET_CUM_WEIGHTS: tuple[int, ...] = tuple(itertools.accumulate(m.weight for m in MARKETS))


# --- generation -----------------------------------------------------------------------------


class _Draw:
    """Fast deterministic draws from one ``random.Random``.

    ``randrange``/``choice``/``choices`` cost several microseconds each; scaling one
    ``random()`` call is enough here and keeps a million orders well under a minute.
    """

    __slots__ = ("random",)

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed).random

    def below(self, n: int) -> int:
        """An int in [0, n)."""
        return int(self.random() * n)

    def pick(self, seq: Sequence[_T]) -> _T:
        """One element of a non-empty sequence."""
        return seq[int(self.random() * len(seq))]

    def weighted(self, seq: Sequence[_T], cum_weights: Sequence[int]) -> _T:
        """One element, chosen with the given cumulative weights."""
        return seq[bisect.bisect(cum_weights, self.random() * cum_weights[-1])]

    def fill(self, pattern: _Pattern) -> str:
        """Fill a compiled pattern: random digits for '#', postcode letters for '@'."""
        if pattern.letters:
            return pattern.template.format(
                *(
                    self.pick(_POSTCODE_LETTERS) if kind == "@" else str(self.below(10))
                    for kind in pattern.kinds
                )
            )
        n = len(pattern.kinds)
        return pattern.template.format(*f"{int(self.random() * pattern.scale):0{n}d}")


def _vat_id(draw: _Draw, m: Market) -> str:
    """A VAT number in the market's format (Polish and French check digits are correct)."""
    if m.code == "PL":  # NIP: 9 digits and a mod-11 check digit (never 10)
        while True:
            digits = [draw.below(10) for _ in range(9)]
            check = sum(d * w for d, w in zip(digits, (6, 5, 7, 2, 3, 4, 5, 6, 7), strict=True))
            if check % 11 != 10:
                return "PL" + "".join(map(str, digits)) + str(check % 11)
    if m.code == "FR":  # two-digit key computed from the 9-digit SIREN
        siren = 100_000_000 + draw.below(900_000_000)
        return f"FR{(12 + 3 * (siren % 97)) % 97:02d}{siren}"
    low = 10 ** (m.vat_digits - 1)
    body = str(low + draw.below(9 * low))
    return m.vat_prefix + body + m.vat_suffix


def _address(draw: _Draw, d: _MarketData, name: str, company: str | None) -> dict[str, Any]:
    street = draw.pick(d.streets).format(
        n=1 + draw.below(159), a=1 + draw.below(39), f=1 + draw.below(8)
    )
    city, zip_pattern = draw.pick(d.cities)
    return {
        "name": name,
        "company": company,
        "street": street,
        "city": city,
        "zip": draw.fill(zip_pattern),
        "country_code": d.market.code,
    }


def _display_name(market: str, first: str, last: str) -> str:
    """How the name is written on a parcel: Hungarians put the family name first."""
    return f"{last} {first}" if market == "HU" else f"{first} {last}"


def _person(draw: _Draw, d: _MarketData) -> tuple[str, str]:
    firsts, male_lasts, female_lasts = d.people
    first, gender = draw.pick(firsts)
    i = draw.below(len(male_lasts))
    last = male_lasts[i] if gender == "m" else female_lasts[i]
    if d.market.code == "ES" and draw.random() < 0.6:  # two surnames: "García López"
        j = draw.below(len(male_lasts))
        if j != i:
            last = f"{last} {male_lasts[j]}"
    return first, last


def _new_customer(
    draw: _Draw, d: _MarketData, customer_id: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    m = d.market
    first, last = _person(draw, d)
    b2b = draw.random() < _B2B_SHARE
    company = draw.pick(d.companies).format(last=draw.pick(d.company_lasts)) if b2b else None
    f, lst = _slug(first), _slug(last)
    local = (f"{f}.{lst}", f"{f[0]}{lst}", f"{f}{lst}", f"{f}_{lst}")[draw.below(4)]
    if draw.random() < 0.8:
        local += str(customer_id % 10000)
    customer = {
        "id": customer_id,
        "email": f"{local}@example.{m.tld}",
        "first_name": first,
        "last_name": last,
        "phone": draw.fill(d.phone),
        "company": company,
        "vat_id": _vat_id(draw, m) if b2b else None,
        "accepts_marketing": draw.random() < _MARKETING_SHARE,
        "locale": m.locale,
    }
    billing = _address(draw, d, _display_name(m.code, first, last), company)
    return customer, billing


_MARKET_INDEXES = tuple(range(len(MARKETS)))
_ITEM_COUNTS = (1, 2, 3, 4, 5)
_ITEM_COUNT_CUM = (45, 70, 85, 95, 100)
_QUANTITY_CUM = (60, 82, 92, 97, 100)


class _Generator:
    """State of one generation run: the random source, counters and bounded customer pools."""

    def __init__(self, count: int, seed: int) -> None:
        self.draw = _Draw(seed)
        self.step = (_END - _START) / max(count, 1)
        self.next_customer_id = FIRST_CUSTOMER_ID
        self.pools: list[list[tuple[dict[str, Any], dict[str, Any]]]] = [[] for _ in MARKETS]
        self.last_seen = [0] * len(MARKETS)
        self.forced: list[int] = []

    def _market_index(self, i: int) -> int:
        if i % _CHECK_EVERY == 0:
            for k, seen in enumerate(self.last_seen):
                if i - seen > _MAX_GAP and k not in self.forced:
                    self.forced.append(k)
        if self.forced:
            return self.forced.pop(0)
        return self.draw.weighted(_MARKET_INDEXES, _MARKET_CUM_WEIGHTS)

    def _customer(self, k: int, d: _MarketData) -> tuple[dict[str, Any], dict[str, Any]]:
        draw = self.draw
        pool = self.pools[k]
        if pool and draw.random() < _REPEAT_CUSTOMER_SHARE:
            customer, billing = draw.pick(pool)
        else:
            self.next_customer_id += 1 + draw.below(3)
            customer, billing = _new_customer(draw, d, self.next_customer_id)
            if len(pool) < _POOL_SIZE:
                pool.append((customer, billing))
            else:
                pool[draw.below(_POOL_SIZE)] = (customer, billing)
        # copies: a consumer that edits one order must not change the next one
        return dict(customer), dict(billing)

    def order(self, i: int) -> dict[str, Any]:
        """The i-th order (0-based); orders must be asked for in sequence."""
        draw = self.draw
        rand = draw.random
        k = self._market_index(i)
        self.last_seen[k] = i
        d = _DATA[k]
        m = d.market
        ts = _START + int((i + rand()) * self.step)
        tz = d.tz_summer if ts < _DST_END else d.tz_winter
        created_at = datetime.fromtimestamp(ts, tz).isoformat()
        channel = draw.weighted(d.channels, d.channel_cum_weights)
        roll = rand()
        status = "paid" if roll < 0.90 else ("pending" if roll < 0.96 else "cancelled")
        customer, billing = self._customer(k, d)

        if rand() < _SHIPPING_DIFFERS_SHARE:
            if rand() < 0.4:  # a gift to someone else
                first, last = _person(draw, d)
                shipping_address = _address(draw, d, _display_name(m.code, first, last), None)
            else:  # same person, another address (office, holiday home)
                shipping_address = _address(draw, d, billing["name"], billing["company"])
        else:
            shipping_address = dict(billing)

        n_items = draw.weighted(_ITEM_COUNTS, _ITEM_COUNT_CUM)
        products = list(d.products)
        line_items = []
        subtotal = 0
        for j in range(n_items):  # distinct products: a partial Fisher-Yates shuffle
            r = j + draw.below(len(products) - j)
            products[j], products[r] = products[r], products[j]
            variants = products[j]
            product = variants[draw.below(len(variants))]
            qty = draw.weighted(_ITEM_COUNTS, _QUANTITY_CUM)
            subtotal += product.cents * qty
            line_items.append(
                {"sku": product.sku, "title": product.title, "quantity": qty,
                 "price": product.price}
            )
        c = draw.below(len(d.carriers))
        ship_cents = 0 if subtotal >= m.free_shipping_from else d.carrier_prices[c]

        order_id = FIRST_ORDER_ID + i
        order: dict[str, Any] = {
            "id": order_id,
            "name": f"#{order_id}",
            "created_at": created_at,
            "market": m.code,
            "currency": m.currency,
            "channel": channel,
            "type": "b2b" if customer["vat_id"] else "b2c",
            "status": status,
            "customer": customer,
            "billing_address": billing,
            "shipping_address": shipping_address,
            "shipping": {"method": d.carriers[c], "price": _money(ship_cents)},
            "line_items": line_items,
            "tax_rate": m.tax_rate,
        }
        if rand() < _NOTE_SHARE:
            order["note"] = draw.pick(d.notes if rand() < 0.6 else _NOTES_COMMON)
        return order


def generate(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Yield ``count`` orders, ids from 100001 upwards, the same ones for the same arguments.

    Timestamps rise with the id and spread evenly over October and November 2026, so the
    first orders of a larger run are not the same as a smaller run's: truncate a file instead
    of generating fewer orders when the prefix must match.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    gen = _Generator(count, seed)
    for i in range(count):
        yield gen.order(i)


def write_jsonl(orders: Iterator[dict[str, Any]], out: BinaryIO, batch: int = 1000) -> int:
    """Write orders as JSON Lines (compact, UTF-8), a batch at a time; return how many."""
    dumps = orjson.dumps
    lines: list[bytes] = []
    n = 0
    for order in orders:
        lines.append(dumps(order))
        n += 1
        if len(lines) >= batch:
            lines.append(b"")
            out.write(b"\n".join(lines))
            lines.clear()
    if lines:
        lines.append(b"")
        out.write(b"\n".join(lines))
    return n


def main(argv: list[str] | None = None) -> int:
    """Command line: write ``--count`` orders for ``--seed`` to ``--out`` (default stdout)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1200, help="number of orders (1200)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    parser.add_argument("--out", default="-", help="output .jsonl file, '-' for stdout")
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error("--count must be >= 0")
    orders = generate(args.count, args.seed)
    if args.out == "-":
        write_jsonl(orders, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_jsonl(orders, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
