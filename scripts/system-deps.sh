#!/usr/bin/env bash
# Debian packages the studio and its tests need: Qt's xcb platform libraries, a virtual screen
# (Xvfb), ImageMagick for screenshots, a virtual sound server and PortAudio for sounddevice.
# With --data it also installs the font packages the glyph and emoji data sets are built from.
set -euo pipefail

runtime=(
  xvfb xauth x11-utils imagemagick fontconfig fonts-dejavu-core
  libgl1 libegl1 libopengl0 libglib2.0-0 libdbus-1-3 libfontconfig1 libfreetype6
  libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4
  libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-render0
  libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1
  libxcb-util1 libxrender1 libxi6 libsm6 libice6
  libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins
  fonts-noto-color-emoji unicode-data fonts-liberation2
)

# Fonts for `latent-studio data build glyphs` and `... emoji` (several hundred Latin fonts).
fonts=(
  unicode-data fonts-noto-core fonts-noto-color-emoji fonts-liberation fonts-liberation2 fonts-freefont-ttf
  fonts-urw-base35 fonts-croscore fonts-crosextra-carlito fonts-crosextra-caladea
  fonts-cantarell fonts-open-sans fonts-roboto fonts-lato fonts-linuxlibertine fonts-texgyre
  fonts-ebgaramond fonts-inconsolata fonts-hack fonts-firacode fonts-jetbrains-mono
  fonts-comic-neue fonts-lobster fonts-league-spartan fonts-junicode
  fonts-gfs-didot fonts-oldstandard fonts-sil-gentium fonts-sil-charis fonts-sil-andika
  fonts-paratype fonts-quicksand fonts-adf-accanthis fonts-adf-gillius
  fonts-adf-universalis fonts-adf-berenis fonts-adf-baskervald fonts-adf-verana
  fonts-adf-tribun fonts-adf-romande fonts-adf-ikarius fonts-adf-switzera fonts-adf-mekanus
  fonts-adf-irianis fonts-adf-libris fonts-adf-oldania fonts-mononoki fonts-anonymous-pro
  fonts-go fonts-agave fonts-fantasque-sans fonts-isabella fonts-breip fonts-dkg-handwriting
  fonts-femkeklaver fonts-yanone-kaffeesatz fonts-tomsontalks fonts-humor-sans fonts-dustin
  fonts-beteckna fonts-cabin fonts-inter fonts-comfortaa fonts-stix fonts-lmodern
  fonts-vollkorn fonts-sil-gentiumplus fonts-sil-doulos fonts-averia-gwf
  fonts-averia-sans-gwf fonts-averia-serif-gwf fonts-kristi fonts-levien-museum
  fonts-levien-typoscript fonts-radisnoir fonts-noto-mono fonts-bebas-neue fonts-play
  fonts-blankenburg fonts-f500 fonts-jura fonts-arkpandora fonts-oxygen fonts-mplus
  fonts-manrope fonts-ferrite-core fonts-hermit fonts-monoid
)

# Speech for `latent-studio data build speech`: real recordings (KLettres' letters and
# syllables, GPL-2+; Asterisk's prompts by three professional speakers, CC-BY-SA-3.0),
# espeak-ng (formant voices) and MBROLA diphone voices (cut from real human recordings; Debian
# contrib/non-free, non-commercial licence).
speech=(
  klettres-data asterisk-core-sounds-en-wav asterisk-core-sounds-fr-wav
  asterisk-core-sounds-ru-wav
  espeak-ng mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 mbrola-de1 mbrola-de2
  mbrola-de6 mbrola-fr1 mbrola-fr4 mbrola-es1 mbrola-es2 mbrola-it3 mbrola-it4 mbrola-nl2
  mbrola-pl1 mbrola-br1 mbrola-br3 mbrola-cz2 mbrola-ro1 mbrola-sw1 mbrola-gr2 mbrola-hu1
  mbrola-ee1 mbrola-ca1 mbrola-cr1 mbrola-id1 mbrola-tr1 mbrola-pt1 mbrola-ir1 mbrola-la1
)

want=("${runtime[@]}")
[ "${1:-}" = "--data" ] && want+=("${fonts[@]}" "${speech[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ "${1:-}" = "--data" ]; then
  # mbrola lives in contrib/non-free: enable them on deb822-style Debian sources.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -q '^Components: main$' "$f" && \
      $SUDO sed -i 's/^Components: main$/Components: main contrib non-free/' "$f"
  done
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
