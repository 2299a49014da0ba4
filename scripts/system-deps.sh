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

want=("${runtime[@]}")
[ "${1:-}" = "--data" ] && want+=("${fonts[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
