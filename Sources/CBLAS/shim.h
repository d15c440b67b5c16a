#include "cblas.h"
