#include "lapacke.h"
